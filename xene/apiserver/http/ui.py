"""The web UI and the API docs, served from files inside the package: nothing from a CDN.

The UI is hand-written ES modules, CSS and inline SVG in `xene/apiserver/ui/` (no build step).
Every page path (`/`, `/runs/{run}`, `/workflows/{name}`, `/agents`, `/login`) answers with the
same `index.html`; the script routes on the path and reads everything through `/api/v1`.
Assets are gzipped once, in memory, and sent compressed to browsers that accept it.
`/docs` (Swagger UI) and `/redoc` use the copies that the fastapi-offline package ships.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from xene.api.errors import NotFound

UI_DIR = Path(__file__).resolve().parent.parent / "ui"
DOCS_ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
PAGE_PATHS = ("/", "/agents", "/login", "/workflows", "/workflows/{name}", "/runs/{run}")
# Nothing the UI needs comes from elsewhere, and no other site may frame its action buttons.
UI_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
MIN_GZIP_BYTES = 1024


@dataclass(frozen=True, slots=True)
class Asset:
    """One file as served: its bytes, gzipped bytes (when worth it), type and ETag."""

    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str

    @classmethod
    def load(cls, path: Path) -> Asset:
        """Read and compress a file once."""
        body = path.read_bytes()
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix in (".js", ".mjs"):
            media_type = "text/javascript"
        if media_type.startswith("text/") or media_type.endswith(("javascript", "json", "svg+xml")):
            media_type += "; charset=utf-8"
        gzipped = gzip.compress(body, 9, mtime=0) if len(body) >= MIN_GZIP_BYTES else None
        return cls(body, gzipped, media_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')

    def response(self, request: Request, cache_control: str) -> Response:
        """200 with the (compressed) body, or 304 when the browser has this version."""
        headers = {"ETag": self.etag, "Cache-Control": cache_control, "Vary": "Accept-Encoding"}
        if request.headers.get("if-none-match") == self.etag:
            return Response(status_code=304, headers=headers)
        body = self.body
        if self.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
            body = self.gzipped
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type=self.media_type, headers=headers)


class AssetDirectory:
    """The files under one directory, loaded on first use and kept."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._assets: dict[str, Asset] = {}

    def get(self, name: str) -> Asset:
        """The asset `name` (a path relative to the root); NotFound outside it or if absent."""
        asset = self._assets.get(name)
        if asset is not None:
            return asset
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root.resolve()) or not path.is_file():
            raise NotFound(f"no such file: {name}")
        asset = self._assets[name] = Asset.load(path)
        return asset


def build_ui_router() -> APIRouter:
    """The page paths (all answering `index.html`) and `/ui/assets/{file}`."""
    router = APIRouter(include_in_schema=False)
    ui = AssetDirectory(UI_DIR)

    async def page(request: Request) -> Response:
        response = ui.get("index.html").response(request, "no-cache")
        response.headers.update(UI_SECURITY_HEADERS)
        return response

    for path in PAGE_PATHS:
        router.add_api_route(path, page, methods=["GET"])

    @router.get("/ui/assets/{name:path}")
    async def asset(name: str, request: Request) -> Response:
        # Revalidated on each load (ETag), so a server upgrade never leaves stale scripts.
        return ui.get(f"assets/{name}").response(request, "no-cache")

    return router


def install_docs(app: FastAPI) -> None:
    """`/docs` and `/redoc` with their scripts served by this server, for offline use."""
    assets = AssetDirectory(DOCS_ASSETS_DIR)
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/ui/assets/favicon.svg",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url="/docs/assets/redoc.standalone.js",
            redoc_favicon_url="/ui/assets/favicon.svg",
            with_google_fonts=False,
        )

    @app.get("/docs/assets/{name}", include_in_schema=False)
    async def docs_asset(name: str, request: Request) -> Response:
        return assets.get(name).response(request, "public, max-age=86400")
