"""YooKassa's wire as the simulator speaks it, from the API v3 reference (yookassa.ru/developers):
statuses, notification shape and the documented limits. Its own definitions, never the adapter's,
so a misreading of the API in the adapter is not silently shared by the simulator that checks it.
"""

from __future__ import annotations

# Payment and refund statuses.
PENDING = "pending"
WAITING_FOR_CAPTURE = "waiting_for_capture"
SUCCEEDED = "succeeded"
CANCELED = "canceled"

# Notifications: `{"type": "notification", "event": "payment.succeeded", "object": {...}}`.
NOTIFICATION = "notification"
PAYMENT_EVENT_PREFIX = "payment."
REFUND_EVENT_PREFIX = "refund."

# Limits: the Idempotence-Key header, a description, metadata (keys, key and value lengths).
MAX_IDEMPOTENCE_KEY = 64
MAX_DESCRIPTION = 128
MAX_METADATA_KEYS = 16
MAX_METADATA_KEY = 32
MAX_METADATA_VALUE = 512
