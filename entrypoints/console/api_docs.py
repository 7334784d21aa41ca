"""/docs: Swagger UI over the served OpenAPI document, its assets from the `swagger-ui-py` package
installed with Paygate (nothing from a CDN, nothing copied into the repository). That package ships
Swagger UI 5, which reads OpenAPI 3.1 (`swagger-ui-bundle` stops at 4, which cannot)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

_ASSETS = Path(str(files("swagger_ui") / "static"))

_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Paygate API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><p style="font-family:sans-serif;margin:8px 16px"><a href="/console/">&larr; Paygate console</a></p>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body></html>
"""
# A script of our own rather than inline, so the page runs under a CSP that allows no inline script.
_INIT = 'window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true});\n'
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline';"
    " frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}


async def docs_page(_request: Request) -> Response:
    return HTMLResponse(_PAGE, headers=_HEADERS)


async def docs_init(_request: Request) -> Response:
    return Response(_INIT, media_type="text/javascript", headers={"Cache-Control": "max-age=300"})


# A mount: the page is not part of the API it documents (`/docs` redirects to `/docs/`).
routes: list[BaseRoute] = [
    Mount(
        "/docs",
        routes=[
            Route("/", docs_page, methods=["GET"]),
            Route("/init.js", docs_init, methods=["GET"]),
            Mount("/assets", app=StaticFiles(directory=_ASSETS), name="docs-assets"),
        ],
    )
]
