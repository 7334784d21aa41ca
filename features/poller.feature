Feature: Paygate finds out by itself what happened to a payment
  Kaspi never calls back: a bill is known to be paid only when somebody asks. Paygate asks Kaspi
  about every open payment on a polite schedule, and tells the marketplace's CRM the moment it knows.

  Background:
    Given the marketplace's demo sellers are set up

  Scenario: A paid bill is known within one poll and the CRM is told once
    Given the marketplace's CRM listens for "payment.succeeded" notifications
    And the marketplace billed 5000 tenge to phone "77015211545" for shop 121038
    When the customer pays in Kaspi
    And Paygate polls once
    Then Paygate knows the payment is paid without anyone asking
    And the CRM receives exactly one signed "payment.succeeded" notification for the payment

  Scenario: A bill nobody pays expires
    Given the marketplace's CRM listens for "payment.expired" notifications
    And the marketplace billed 5000 tenge to phone "77015211545" for shop 121038
    When 25 hours pass
    And Paygate polls once
    Then the CRM receives exactly one signed "payment.expired" notification for the payment
    And the payment has expired in Paygate

  Scenario: Kaspi does not answer while Paygate asks
    Given the marketplace billed 5000 tenge to phone "77015211545" for shop 121038
    And Kaspi does not answer the next status question
    When the customer pays in Kaspi
    And Paygate polls once
    Then the payment is still waiting and the unanswered question is in the audit log
    When 15 seconds pass
    And Paygate polls once
    Then Paygate knows the payment is paid without anyone asking
