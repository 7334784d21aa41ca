Feature: Seller routes
  An operator connects a seller's Kaspi merchant account to the marketplace.

  Scenario: An operator connects, changes and deactivates a seller
    When the operator connects shop 424242 to organisation 180340021791
    Then shop 424242 is active with organisation 180340021791
    When the operator moves shop 424242 to organisation 940140000385
    Then shop 424242 is active with organisation 940140000385
    When the operator deactivates shop 424242
    Then shop 424242 is inactive
    And the operator never sees the seller's device token

  Scenario: An organisation number with a wrong check digit is refused
    When the operator connects shop 434343 to organisation 180340021792
    Then the request is refused as "invalid_value" on field "organization_bin"
