Feature: Card payments through Stripe, on each seller's own Stripe account
  A seller connected to the marketplace's Stripe platform is paid on its own connected account.
  The customer pays in the browser (a card, Apple Pay or Google Pay) and Stripe tells Paygate. Only
  a message Stripe itself signed, just now, can change a payment. Amounts are whole cents.

  Background:
    Given the marketplace's demo sellers are set up
    And shop 121038 takes card payments on its own Stripe account

  Scenario: A card payment, from the checkout to a partial refund
    When the marketplace bills 5000 cents for shop 121038 at Stripe
    Then the customer's browser gets what it needs to pay
    And the Stripe payment waits for the customer
    When the customer pays by card and Stripe tells Paygate
    Then the Stripe payment has succeeded as Stripe's message says, Paygate asking Stripe only how it was paid
    When the marketplace refunds 2000 cents of the Stripe payment
    Then the customer got 2000 cents back at Stripe and 3000 cents can still be refunded

  Scenario: A customer pays with Apple Pay: the payment records the wallet that paid
    When the marketplace bills 5000 cents for shop 121038 at Stripe
    And the customer pays with Apple Pay and Stripe tells Paygate
    Then the Stripe payment has succeeded, paid with Apple Pay

  Scenario: A declined card leaves the payment open, the decline noted until another card pays
    When the marketplace bills 5000 cents for shop 121038 at Stripe
    And the customer's card is declined and Stripe tells Paygate
    Then the Stripe payment still waits for the customer, noting that the card was declined
    When the customer pays by card and Stripe tells Paygate
    Then the Stripe payment has succeeded, with no decline left on it

  Scenario: Stripe tells twice that the customer paid: the second message changes nothing
    When the marketplace bills 5000 cents for shop 121038 at Stripe
    And the customer pays by card and Stripe tells Paygate
    And Stripe tells Paygate the same thing again
    Then the second message is acknowledged as already handled
    And the Stripe payment changed status once

  Scenario Outline: A message Stripe did not sign just now is rejected and changes nothing
    When the marketplace bills 5000 cents for shop 121038 at Stripe
    And someone sends a message with a <signature> signature claiming the customer paid
    Then the message is rejected
    And the Stripe payment still waits for the customer

    Examples:
      | signature |
      | forged    |
      | stale     |
      | missing   |

  Scenario: A card payment authorised now and captured later
    When the marketplace authorises 7500 cents for shop 121038 at Stripe, to capture later
    And the customer pays by card and Stripe tells Paygate
    Then the Stripe payment is authorised
    When the marketplace captures the Stripe payment
    Then the Stripe payment has succeeded
    And 7500 cents of the Stripe payment can be refunded

  Scenario Outline: A refund Stripe holds as pending ends as Stripe's own message says
    When the marketplace bills 5000 cents for shop 121038 at Stripe
    And the customer pays by card and Stripe tells Paygate
    And Stripe holds the next refund as pending
    And the marketplace refunds 2000 cents of the Stripe payment, which Stripe holds as pending
    Then the Stripe refund is pending with its 2000 cents held back
    When the Stripe refund <outcome> and Stripe tells Paygate
    Then the Stripe refund has <outcome>, as told by "webhook:stripe"

    Examples:
      | outcome   |
      | succeeded |
      | failed    |

  Scenario Outline: A refund Stripe holds as pending ends as the poller finds out
    When the marketplace bills 5000 cents for shop 121038 at Stripe
    And the customer pays by card and Stripe tells Paygate
    And Stripe holds the next refund as pending
    And the marketplace refunds 2000 cents of the Stripe payment, which Stripe holds as pending
    And the Stripe refund <outcome> and Stripe tells nobody
    And 2 minutes pass
    And Paygate polls once
    Then the Stripe refund has <outcome>, as told by "poller"

    Examples:
      | outcome   |
      | succeeded |
      | failed    |
