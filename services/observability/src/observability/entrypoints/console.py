"""The operations console: one HTML page and its script and style, served beside ``/v1``.

The page itself needs no credential: it asks the operator for an API key and calls ``/v1``
with it, so every read and action is the API's to allow. The assets ship inside the package
(``static/``), with no build step and nothing fetched from elsewhere; a strict content
security policy keeps the page to its own script, style and API.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

__all__ = ["console_router"]

_PAGE = "console.html"
_ASSETS = {
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The page and its assets change with the image: always revalidated, never stale.
    "Cache-Control": "no-cache",
}


def _read(name: str) -> bytes:
    return resources.files("observability.entrypoints").joinpath("static", name).read_bytes()


def console_router() -> APIRouter:
    """Return the console's routes: ``GET /console`` and ``GET /console/static/{name}``."""
    page = _read(_PAGE)
    assets = {name: _read(name) for name in _ASSETS}
    router = APIRouter(tags=["console"], include_in_schema=False)

    async def show_console() -> Response:
        """Serve the console's page."""
        return Response(page, media_type="text/html; charset=utf-8", headers=_HEADERS)

    async def console_asset(name: str) -> Response:
        """Serve one of the console's assets (its script or its style)."""
        if name not in assets:
            raise HTTPException(404, detail=f"the console has no asset {name[:100]!r}")
        return Response(assets[name], media_type=_ASSETS[name], headers=_HEADERS)

    router.add_api_route("/console", show_console, methods=["GET"])
    router.add_api_route("/console/static/{name}", console_asset, methods=["GET"])
    return router
