"""YooKassa (ЮKassa): redirect checkout, two-step payments and refunds over its HTTP API v3."""
