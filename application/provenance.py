"""Where a status change came from: recorded on the payment or refund, its audit entry and its event."""

from __future__ import annotations

API = "api"  # a client's request (create, refund, capture, cancel, a status read)
POLLER = "poller"
CLIENT_REPORT = "client_report"  # a client reported a status, which the provider then confirmed
OPERATOR_CLI = "operator:cli"
_WEBHOOK = "webhook:"
_OPERATOR = "operator:"  # `operator:<key name>`: an operator's action through the API, under its key's name
_CLI_ACTOR = "cli"


def webhook(provider: str) -> str:
    return f"{_WEBHOOK}{provider}"


def source_of(actor: str | None) -> str:
    """The source a change made on behalf of `actor` has, when the caller named none.

    The poller and webhooks act under their own names, operators' actions as `operator:<key name>`,
    the command line as `cli`; anything else is an API client's request.
    """
    if actor == POLLER:
        return POLLER
    if actor is not None and actor.startswith((_WEBHOOK, _OPERATOR)):
        return actor
    if actor == _CLI_ACTOR:
        return OPERATOR_CLI
    return API
