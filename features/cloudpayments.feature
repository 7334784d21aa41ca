Feature: CloudPayments payment links for sellers in Russia
  A seller with its own CloudPayments site bills customers with a payment link. CloudPayments signs
  every notification with the seller's API secret: Paygate believes a notification only when the
  signature proves it came from CloudPayments, and a forged one changes nothing. Before it takes any
  money, CloudPayments asks Paygate whether the payment is still wanted.

  Background:
    Given shop 56195 takes payments through its own CloudPayments site

  Scenario: The customer pays by link and the seller refunds part of it
    Given the marketplace billed 1500.50 roubles for order "C-1001" of shop 56195 by a CloudPayments link
    When the customer pays on the link's page
    Then CloudPayments asked Paygate before taking the money, and Paygate agreed
    And the payment has succeeded on CloudPayments' signed word
    When the seller refunds 500.25 roubles of the payment
    Then the payment is partially refunded, 500.25 roubles back to the customer
    And CloudPayments returned 500.25 roubles to the customer

  Scenario: A two-step payment is held for the seller, then captured
    Given the marketplace billed 2000 roubles for order "C-1002" of shop 56195 by a CloudPayments link, to be captured later
    When the customer pays on the link's page
    Then the payment is authorized, waiting for the seller
    When the seller captures the payment
    Then the payment has succeeded
    And CloudPayments charged the customer 2000 roubles

  Scenario: A forged notification of success is refused and changes nothing
    Given the marketplace billed 700 roubles for order "C-1003" of shop 56195 by a CloudPayments link
    When a notification that the payment succeeded arrives, signed with a key that is not the seller's
    Then the notification is refused as forged
    And Paygate's records still show the payment pending

  Scenario: A declined card may be tried again on the same link, and the customer is charged once
    Given the marketplace billed 700 roubles for order "C-1004" of shop 56195 by a CloudPayments link
    And the customer's card was declined on the link's page
    Then the payment is still pending, with the decline noted
    When the customer tries again on the same page
    Then CloudPayments asked Paygate again before taking the money, and Paygate agreed
    And the payment has succeeded
    And CloudPayments charged the customer 700 roubles, once
