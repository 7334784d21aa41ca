Feature: One payments API for every provider
  The marketplace bills customers the same way whatever provider a seller uses. Amounts are whole
  minor units (tiyn for tenge), and every answer says what the customer does next.

  Background:
    Given the marketplace's demo sellers are set up

  Scenario: A Kaspi payment, from the bill to a partial refund
    When the marketplace bills 500000 tiyn to phone "+7 701 521 15 45" for shop 121038 at Kaspi
    Then the payment waits for the customer
    When the customer approves the payment in Kaspi
    Then the payment has succeeded
    When the marketplace refunds 200000 tiyn of the payment
    Then 200000 tiyn of the payment are refunded and 300000 tiyn can still be refunded

  Scenario: A Kaspi payment link comes with a QR code to show the customer
    When the marketplace asks for a 100000 tiyn Kaspi payment link for shop 121038
    Then the customer gets a Kaspi link and its QR code

  Scenario: Kaspi takes payments at once and cannot capture them later
    Given shop 121038 was paid 5000 tiyn at Kaspi
    When the marketplace captures the payment
    Then the request is refused as "capability_not_supported"

  Scenario: A two-step payment is authorised, then captured
    Given shop 121038 also takes card payments through the sandbox
    When the marketplace authorises 1234500 tiyn for shop 121038 at the sandbox, to capture later
    Then the payment is authorised
    When the marketplace captures the payment
    Then the payment has succeeded
    And 1234500 tiyn of the payment can be refunded

  Scenario: A two-step payment is authorised, then cancelled
    Given shop 121038 also takes card payments through the sandbox
    When the marketplace authorises 1234500 tiyn for shop 121038 at the sandbox, to capture later
    And the marketplace cancels the payment
    Then the payment is cancelled
    When the marketplace captures the payment
    Then the request is refused as "payment_not_capturable"

  Scenario: A card without enough money is declined, and the reason is kept
    Given shop 121038 also takes card payments through the sandbox
    When the marketplace bills 990000 tiyn for shop 121038 at the sandbox to a card without enough money
    Then the request is refused as "provider_declined"
    And the declined payment failed for "insufficient_funds"

  Scenario: An order's payments, the declined one and the paid one
    Given shop 121038 also takes card payments through the sandbox
    And order "A-1001" of shop 121038 was declined once and then paid
    Then order "A-1001" has 2 payments, the paid one first

  Scenario: A customer's payment history, page by page
    Given shop 121038 also takes card payments through the sandbox
    And customer "cust-77" paid 3 times at shop 121038
    When the marketplace reads the history of customer "cust-77" 2 payments at a time
    Then the pages hold 2 and then 1 payments, newest first, with nothing left over

  Scenario: A key restricted to one shop cannot see another shop's payments
    Given shop 576631 was paid 5000 tiyn at Kaspi
    And an API key that reaches only shop 121038
    When that key asks for the payment
    Then the request is refused as "payment_not_found"
    When that key asks to refund the payment
    Then the request is refused as "payment_not_found"
