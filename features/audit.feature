Feature: Audit log
  Every operation on a shop's money is on record, successful or not.

  Scenario: The audit log lists every operation of a shop
    Given the marketplace's demo sellers are set up
    And shop 121038 was paid 100 tenge by phone "77015211545"
    When shop 121038 refunds 40 tenge
    And shop 121038 refunds 100 tenge
    Then the audit log of shop 121038 lists, newest first:
      | operation     | status  |
      | refund        | error   |
      | refund        | success |
      | status_change | success |
      | create        | success |
