"""CloudPayments: payment links (orders), status, refunds, two-step capture and void, signed notifications."""
