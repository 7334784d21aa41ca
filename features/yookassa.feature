Feature: YooKassa payments for sellers in Russia
  A seller with its own YooKassa shop takes card payments on YooKassa's checkout page. YooKassa's
  notifications are not signed: Paygate listens only to YooKassa's own networks, and even then it
  believes nothing until YooKassa's records, asked directly, say the same.

  Background:
    Given shop 49237 takes payments through its own YooKassa shop

  Scenario: The customer pays on YooKassa's page and the seller refunds part of it
    Given the marketplace billed 599 roubles for order "Y-1001" of shop 49237 through YooKassa
    When the customer pays on YooKassa's page
    And YooKassa notifies Paygate about the payment
    Then Paygate looked the payment up at YooKassa
    And the payment has succeeded
    When the seller refunds 200 roubles of the payment
    Then the payment is partially refunded, 200 roubles back to the customer
    And YooKassa returned 200 roubles to the customer

  Scenario: A two-step payment is held for the seller, then captured
    Given the marketplace billed 1500 roubles for order "Y-1002" of shop 49237 through YooKassa, to be captured later
    When the customer pays on YooKassa's page
    And YooKassa notifies Paygate about the payment
    Then the payment is authorized, waiting for the seller
    When the seller captures the payment
    Then the payment has succeeded

  Scenario: A notification from outside YooKassa's networks is refused and changes nothing
    Given the marketplace billed 599 roubles for order "Y-1003" of shop 49237 through YooKassa
    And the customer paid on YooKassa's page
    When a notification that the payment succeeded arrives from outside YooKassa's networks
    Then the notification is refused as coming from a stranger
    And Paygate did not look the payment up at YooKassa
    And Paygate's records still show the payment pending

  Scenario: A false notification of success changes nothing, because YooKassa says otherwise
    Given the marketplace billed 599 roubles for order "Y-1004" of shop 49237 through YooKassa
    When a notification that the payment succeeded arrives from YooKassa's network, though the customer never paid
    Then Paygate looked the payment up at YooKassa
    And Paygate's records still show the payment pending

  Scenario: A refund YooKassa holds as pending succeeds, and YooKassa's notification is checked before it counts
    Given the marketplace billed 599 roubles for order "Y-1005" of shop 49237 through YooKassa
    And the customer paid on YooKassa's page
    And YooKassa holds the next refund as pending
    When the seller refunds 200 roubles of the payment, which YooKassa holds as pending
    Then the refund is pending at YooKassa with its 200 roubles held back
    When YooKassa's refund succeeded and YooKassa notifies Paygate
    Then Paygate looked the refund up at YooKassa
    And the refund has succeeded, as told by "webhook:yookassa"

  Scenario Outline: A refund YooKassa holds as pending ends as the poller finds out
    Given the marketplace billed 599 roubles for order "<order>" of shop 49237 through YooKassa
    And the customer paid on YooKassa's page
    And YooKassa holds the next refund as pending
    When the seller refunds 200 roubles of the payment, which YooKassa holds as pending
    And YooKassa's refund <outcome> and YooKassa tells nobody
    And 2 minutes pass
    And Paygate polls once
    Then the refund has <outcome>, as told by "poller"

    Examples:
      | order  | outcome   |
      | Y-1006 | succeeded |
      | Y-1007 | failed    |
