"""Sessions of the web UI: whoami, login cookies, the CSRF check on cookie writes, logout."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Request

from xene.apiserver.http.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Authenticator,
    build_session_router,
)
from xene.apiserver.http.errors import install_error_handlers

TOKEN = "t0ken"


def client(token: str = TOKEN) -> httpx.AsyncClient:
    auth = Authenticator(token)
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(build_session_router(auth))

    @app.get("/api/v1/thing")
    async def read(request: Request) -> dict[str, str]:
        return {"caller": auth.identify(request).role}

    @app.post("/api/v1/thing")
    async def write(request: Request) -> dict[str, str]:
        return {"caller": auth.identify(request).role}

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def logged_in() -> httpx.AsyncClient:
    browser = client()
    response = await browser.post("/api/v1/login", json={"token": TOKEN})
    assert response.status_code == 200, response.text
    return browser


async def test_without_a_configured_token_everyone_is_an_anonymous_admin() -> None:
    open_server = client(token="")
    assert (await open_server.get("/api/v1/whoami")).json() == {
        "authenticated": False,
        "name": None,
        "role": "admin",
    }
    assert (await open_server.post("/api/v1/thing")).status_code == 200


async def test_whoami_needs_credentials_when_a_token_is_required() -> None:
    server = client()
    anonymous = await server.get("/api/v1/whoami")
    assert anonymous.status_code == 401
    assert anonymous.json()["reason"] == "Unauthenticated"
    bearer = await server.get("/api/v1/whoami", headers={"Authorization": f"Bearer {TOKEN}"})
    assert bearer.json() == {"authenticated": True, "name": "api-token", "role": "admin"}
    wrong = await server.get("/api/v1/whoami", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


async def test_login_sets_an_httponly_strict_session_cookie_and_a_readable_csrf_cookie() -> None:
    server = client()
    response = await server.post("/api/v1/login", json={"token": TOKEN})
    assert response.json()["role"] == "admin"
    cookies = {
        header.split("=", 1)[0]: header.lower()
        for header in response.headers.get_list("set-cookie")
    }
    assert "httponly" in cookies[SESSION_COOKIE]
    assert "samesite=strict" in cookies[SESSION_COOKIE]
    assert "path=/" in cookies[SESSION_COOKIE]
    assert "httponly" not in cookies[CSRF_COOKIE]
    assert "samesite=strict" in cookies[CSRF_COOKIE]


async def test_login_refuses_a_wrong_token_and_anything_but_json() -> None:
    server = client()
    wrong = await server.post("/api/v1/login", json={"token": "nope"})
    assert wrong.status_code == 401
    assert SESSION_COOKIE not in wrong.cookies
    form = await server.post(
        "/api/v1/login", content=f"token={TOKEN}", headers={"Content-Type": "text/plain"}
    )
    assert form.status_code == 400
    assert "JSON" in form.json()["message"]
    empty = await server.post("/api/v1/login", json={"token": ""})
    assert empty.status_code == 422
    assert empty.json()["details"]["causes"][0]["field"] == "token"


async def test_cookie_reads_pass_and_cookie_writes_need_the_signed_csrf_token() -> None:
    browser = await logged_in()
    assert (await browser.get("/api/v1/thing")).json() == {"caller": "admin"}
    assert (await browser.get("/api/v1/whoami")).json()["authenticated"] is True

    missing = await browser.post("/api/v1/thing")
    assert missing.status_code == 403
    assert "CSRF" in missing.json()["message"]
    csrf = browser.cookies[CSRF_COOKIE]
    assert (await browser.post("/api/v1/thing", headers={"X-Xene-CSRF": csrf})).status_code == 200

    # A token the server did not sign for this session (a planted cookie) does not pass.
    forged = "nonce.0000"
    browser.cookies.set(CSRF_COOKIE, forged)
    assert (await browser.post("/api/v1/thing", headers={"X-Xene-CSRF": forged})).status_code == 403


async def test_a_bearer_request_needs_no_csrf_token() -> None:
    server = client()
    response = await server.post("/api/v1/thing", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200


async def test_a_session_of_a_token_that_changed_is_over() -> None:
    browser = await logged_in()
    session = browser.cookies[SESSION_COOKIE]
    other = client(token="new-token")
    other.cookies.set(SESSION_COOKIE, session)
    response = await other.get("/api/v1/thing")
    assert response.status_code == 401
    assert "log in again" in response.json()["message"]


async def test_logout_clears_both_cookies() -> None:
    browser = await logged_in()
    response = await browser.post("/api/v1/logout")
    assert response.status_code == 200
    cleared = [header.lower() for header in response.headers.get_list("set-cookie")]
    assert any(h.startswith(f"{SESSION_COOKIE}=") and "max-age=0" in h for h in cleared)
    assert any(h.startswith(f"{CSRF_COOKIE}=") and "max-age=0" in h for h in cleared)
    assert (await browser.get("/api/v1/thing")).status_code == 401
