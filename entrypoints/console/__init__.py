"""The operator console at /console/: server-rendered pages over the same use cases and the same
authorization as the API (`entrypoints.http.auth`), signed in with an API key."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from entrypoints.console import admin_pages, payment_pages, report_pages, sign_in

routes: list[BaseRoute] = [
    Route("/sign-in", sign_in.show_sign_in, methods=["GET"]),
    Route("/sign-in", sign_in.sign_in, methods=["POST"]),
    Route("/sign-out", sign_in.sign_out, methods=["POST"]),
    Route("/lang/{lang}", sign_in.choose_language, methods=["GET"]),
    Route("/", report_pages.overview, methods=["GET"]),
    Route("/settlements", report_pages.settlements, methods=["GET"]),
    Route("/sellers", admin_pages.sellers, methods=["GET"]),
    Route("/sellers", admin_pages.add_route, methods=["POST"]),
    Route("/sellers/{shop_id}/{provider}", admin_pages.change_route, methods=["POST"]),
    Route("/webhooks", admin_pages.webhooks, methods=["GET"]),
    Route("/webhooks", admin_pages.add_webhook, methods=["POST"]),
    Route("/webhooks/{subscription_id}/remove", admin_pages.remove_webhook, methods=["POST"]),
    Route("/keys", admin_pages.keys, methods=["GET"]),
    Route("/keys", admin_pages.create_key, methods=["POST"]),
    Route("/keys/{key_id}/revoke", admin_pages.revoke_key, methods=["POST"]),
    Route("/payments", payment_pages.list_payments, methods=["GET"]),
    Route("/payments.csv", payment_pages.export_payments, methods=["GET"]),
    Route("/payments/{payment_id}", payment_pages.show_payment, methods=["GET"]),
    Route("/payments/{payment_id}/refund", payment_pages.refund, methods=["POST"]),
    Route("/payments/{payment_id}/capture", payment_pages.capture, methods=["POST"]),
    Route("/payments/{payment_id}/cancel", payment_pages.cancel, methods=["POST"]),
    Route("/payments/{payment_id}/attach", payment_pages.attach, methods=["POST"]),
    Route("/deliveries/{delivery_id}/redeliver", payment_pages.redeliver, methods=["POST"]),
    Mount("/static", app=StaticFiles(packages=[("entrypoints.console", "static")]), name="console-static"),
]
