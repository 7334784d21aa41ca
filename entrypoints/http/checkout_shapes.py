"""The declared answer of what a pay page polls (`GET /pay/{payment_id}/status`)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from domain.payment import PaymentStatus

# The statuses as the page shows them (a plain string in the document: `PaymentStatus` there names
# the legacy Kaspi status answer).
StatusName = Annotated[str, msgspec.Meta(extra_json_schema={"enum": [status.value for status in PaymentStatus]})]


class PayPageStatus(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    status: StatusName
    status_text: Annotated[str, msgspec.Meta(examples=["Waiting for payment"])]
    final: Annotated[bool, msgspec.Meta(description="no change is coming: the page stops polling")]
    return_url: Annotated[
        str | None, msgspec.Meta(description="once final: the return_url with payment_id and status added")
    ]
