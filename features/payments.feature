Feature: Kaspi payments for the marketplace's sellers
  The marketplace asks Paygate to bill a customer for a seller's order.
  Every seller is paid into its own Kaspi merchant account.

  Background:
    Given the marketplace's demo sellers are set up

  Scenario Outline: A payment goes to the seller's own organisation
    When the marketplace bills 5000 tenge to phone "+7 701 521 15 45" for shop <shop>
    Then the bill waits for the customer
    And Kaspi was asked to pay organisation <bin>

    Examples:
      | shop   | bin          |
      | 121038 | 920317450731 |
      | 576631 | 210440028324 |
      | 75509  | 860214400107 |
      | 69292  | 960514451575 |
      | 49237  | 930201350766 |
      | 56195  | 590915402028 |
      | 71691  | 991011000048 |
      | 8      | 891027350515 |

  Scenario: An unknown shop cannot take payments
    When the marketplace bills 5000 tenge to phone "77015211545" for shop 999999
    Then the request is refused as "shop_not_found"

  Scenario: An inactive shop cannot take payments
    Given shop 75509 has been deactivated
    When the marketplace bills 5000 tenge to phone "77015211545" for shop 75509
    Then the request is refused as "shop_inactive"

  Scenario: A phone number that is not a Kazakhstan mobile is refused
    When the marketplace bills 5000 tenge to phone "12345" for shop 121038
    Then the request is refused as "invalid_value" on field "phone"

  Scenario: The customer pays
    Given the marketplace billed 5000 tenge to phone "77015211545" for shop 121038
    When the customer approves the payment in Kaspi
    Then the payment status is "Processed"

  Scenario: The customer declines
    Given the marketplace billed 5000 tenge to phone "77015211545" for shop 121038
    When the customer declines the payment in Kaspi
    Then the payment status is "Error"

  Scenario: A payment link for a customer without the app open
    When the marketplace asks for a 7500 tenge payment link for shop 576631
    Then it gets a Kaspi payment link for organisation 210440028324
    And the customer can pay through the link

  Scenario: A retried request makes one payment
    When the marketplace bills 5000 tenge to phone "77015211545" for shop 121038 with idempotency key "order-1001"
    And the marketplace repeats that request with idempotency key "order-1001"
    Then both answers name the same payment
    And Kaspi received exactly one bill

  Scenario: Kaspi does not answer in time
    Given Kaspi is timing out
    When the marketplace bills 5000 tenge to phone "77015211545" for shop 121038
    Then the request fails with an unknown outcome
    And the payment is kept pending, not failed
