"""The web UI's files: served offline from the package, within the size budget, with every
module they import present, and the page paths answering the same shell."""

from __future__ import annotations

import gzip
import re

import httpx
import pytest
from fastapi import FastAPI

from xene.apiserver.http.errors import install_error_handlers
from xene.apiserver.http.ui import PAGE_PATHS, UI_DIR, build_ui_router, install_docs

BUDGET_BYTES = 300 * 1024
IMPORT = re.compile(r'from\s+"\./([\w.-]+)"')
EXTERNAL = re.compile(r"https?://(?!www\.w3\.org/2000/svg)")


def app() -> httpx.AsyncClient:
    application = FastAPI(docs_url=None, redoc_url=None)
    install_error_handlers(application)
    install_docs(application)
    application.include_router(build_ui_router())
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application), base_url="http://testserver"
    )


def ui_files() -> list:
    return sorted(p for p in UI_DIR.rglob("*") if p.is_file())


def test_assets_fit_the_budget_compressed() -> None:
    total = sum(len(gzip.compress(path.read_bytes(), 9)) for path in ui_files())
    assert total <= BUDGET_BYTES, f"UI assets are {total} bytes gzipped"


def test_nothing_is_loaded_from_elsewhere_and_every_import_exists() -> None:
    for path in ui_files():
        if path.suffix not in (".js", ".css", ".html", ".svg"):
            continue
        text = path.read_text()
        assert not EXTERNAL.search(text), f"{path.name} refers to another site"
        for module in IMPORT.findall(text):
            assert (path.parent / module).is_file(), f"{path.name} imports missing {module}"


@pytest.mark.parametrize(
    "path", [p.replace("{name}", "demo").replace("{run}", "demo.b.1") for p in PAGE_PATHS]
)
async def test_every_page_path_serves_the_shell_with_a_strict_policy(path: str) -> None:
    async with app() as client:
        response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/ui/assets/main.js">' in response.text
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy


async def test_assets_are_gzipped_cached_by_etag_and_confined_to_their_folder() -> None:
    async with app() as client:
        first = await client.get("/ui/assets/main.js", headers={"Accept-Encoding": "gzip"})
        assert first.status_code == 200
        assert first.headers["content-encoding"] == "gzip"
        assert first.headers["content-type"].startswith("text/javascript")
        assert "renderOverview" in first.text
        again = await client.get(
            "/ui/assets/main.js", headers={"If-None-Match": first.headers["etag"]}
        )
        assert again.status_code == 304
        assert (await client.get("/ui/assets/nope.js")).status_code == 404
        escape = await client.get("/ui/assets/..%2F..%2Fhttp%2Fauth.py")
        assert escape.status_code == 404


async def test_api_docs_use_local_scripts() -> None:
    async with app() as client:
        docs = await client.get("/docs")
        assert docs.status_code == 200
        assert not EXTERNAL.search(docs.text.replace("http://testserver", ""))
        for asset in re.findall(r'"(/docs/assets/[^"]+)"', docs.text):
            assert (await client.get(asset)).status_code == 200, asset
        redoc = await client.get("/redoc")
        assert "/docs/assets/redoc.standalone.js" in redoc.text
