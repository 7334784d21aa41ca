Feature: Refunds
  A seller gives money back for a paid order, all at once or in parts,
  never more than the customer paid.

  Background:
    Given the marketplace's demo sellers are set up
    And shop 121038 was paid 100 tenge by phone "77015211545"

  Scenario: A partial refund, then the rest
    When shop 121038 refunds 50 tenge
    Then the refund succeeds for 50 tenge to organisation 920317450731
    When shop 121038 refunds 50 tenge
    Then the refund succeeds for 50 tenge to organisation 920317450731
    And the customer got 100 tenge back in total

  Scenario: A refund beyond the paid amount is refused
    When shop 121038 refunds 150 tenge
    Then the request is refused as "refund_exceeds_remaining"
    And the customer got 0 tenge back in total

  Scenario: A second refund beyond what is left is refused
    When shop 121038 refunds 80 tenge
    And shop 121038 refunds 30 tenge
    Then the request is refused as "refund_exceeds_remaining"
    And the customer got 80 tenge back in total

  Scenario: A shop cannot refund another shop's payment
    When shop 576631 refunds 50 tenge
    Then the request is refused as "payment_not_found"
    And the customer got 0 tenge back in total
