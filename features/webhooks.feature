Feature: The marketplace's CRM is told about payments, reliably
  Every notification is signed, so the CRM can trust it, and carries an event id the CRM can
  recognise a repeat by. While the CRM is down Paygate keeps trying for about a day, and an
  operator can see every attempt and send a notification again.

  Background:
    Given the marketplace's demo sellers are set up
    And the marketplace's CRM listens for "payment.succeeded" notifications

  Scenario: The CRM is down for a while
    Given the marketplace billed 5000 tenge to phone "77015211545" for shop 121038
    And the marketplace's CRM is down
    When the customer pays in Kaspi
    And Paygate polls once
    Then the CRM has received nothing yet
    When the CRM comes back
    And 1 minute passes
    And Paygate polls once
    Then the CRM receives exactly one signed "payment.succeeded" notification for the payment
    When 6 hours pass
    And Paygate polls once
    Then the CRM has received each event only once

  Scenario: An operator sees every attempt and sends a notification again
    Given the marketplace billed 5000 tenge to phone "77015211545" for shop 121038
    And the marketplace's CRM is down
    When the customer pays in Kaspi
    And Paygate polls once
    And the CRM comes back
    And 1 minute passes
    And Paygate polls once
    Then the operator sees two attempts at the notification, the first one failed
    When the operator sends the notification again
    And Paygate polls once
    Then the CRM has received the same event twice, under the same id
