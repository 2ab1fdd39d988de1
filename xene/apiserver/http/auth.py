"""Who calls the REST API, and the session routes of the web UI (login, logout, whoami).

A caller proves itself with `Authorization: Bearer <token>` (xenectl, scripts) or, in a browser,
with the session cookie that `POST /api/v1/login` sets: HttpOnly (page scripts cannot read the
token) and SameSite=Strict (other sites' pages do not send it). Writes made with the cookie must
also carry the CSRF token (signed double submit: the `xene_csrf` cookie, readable by the UI's
script, repeated in the `X-Xene-CSRF` header and signed with the session's token), so a request
forged elsewhere fails even where a cookie could be planted. Bearer requests need no CSRF token:
browsers never add that header on their own.

Roles: until tokens carry roles, a valid token, or no token configured at all, is `admin`; the
web UI decides what to offer from `GET /api/v1/whoami` alone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from xene.api.errors import BadRequest, FieldError, Forbidden, Invalid, Unauthenticated
from xene.apiserver.http.body import read_capped

Role = Literal["viewer", "operator", "admin"]

SESSION_COOKIE = "xene_session"
CSRF_COOKIE = "xene_csrf"
CSRF_HEADER = "x-xene-csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A browser session outlives a working day at most; the token itself does not expire.
SESSION_MAX_AGE_SECONDS = 12 * 3600
MAX_LOGIN_BODY_BYTES = 16 * 1024
STATIC_TOKEN_NAME = "api-token"


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller as `GET /api/v1/whoami` describes it."""

    authenticated: bool
    name: str | None
    role: Role

    def to_dict(self) -> dict[str, Any]:
        """The whoami body."""
        return {"authenticated": self.authenticated, "name": self.name, "role": self.role}


ANONYMOUS_ADMIN = Identity(authenticated=False, name=None, role="admin")


class Authenticator:
    """Checks bearer tokens, session cookies and CSRF tokens against the server's API token."""

    def __init__(self, token: str) -> None:
        self._token = token

    @property
    def required(self) -> bool:
        """True when the server was given a token, so every API call must prove it."""
        return bool(self._token)

    def token_identity(self, token: str) -> Identity | None:
        """The identity a token stands for, or None when it is not a valid token."""
        if hmac.compare_digest(token.encode(), self._token.encode()):
            return Identity(authenticated=True, name=STATIC_TOKEN_NAME, role="admin")
        return None

    def identify(self, request: Request) -> Identity:
        """The caller of `request`; Unauthenticated or Forbidden when it may not call at all."""
        if not self.required:
            return ANONYMOUS_ADMIN
        header = request.headers.get("authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
            identity = self.token_identity(token.strip())
            if identity is None:
                raise Unauthenticated("wrong bearer token")
            return identity
        session = request.cookies.get(SESSION_COOKIE)
        if session:
            identity = self.token_identity(session)
            if identity is None:
                raise Unauthenticated("the session is no longer valid: log in again")
            if request.method not in SAFE_METHODS:
                self.check_csrf(request, session)
            return identity
        raise Unauthenticated("missing bearer token: pass --token, XENE_TOKEN or ~/.xene/config")

    def new_csrf_token(self, session: str) -> str:
        """A fresh CSRF token bound to the session's token: `nonce.signature`."""
        nonce = secrets.token_urlsafe(18)
        return f"{nonce}.{_sign(session, nonce)}"

    def check_csrf(self, request: Request, session: str) -> None:
        """Forbidden unless the header repeats the CSRF cookie and the session signed it."""
        sent = request.headers.get(CSRF_HEADER, "")
        cookie = request.cookies.get(CSRF_COOKIE, "")
        nonce, _, signature = sent.partition(".")
        if (
            not sent
            or not hmac.compare_digest(sent.encode(), cookie.encode())
            or not hmac.compare_digest(signature.encode(), _sign(session, nonce).encode())
        ):
            raise Forbidden(
                "this request came with the session cookie but without its CSRF token "
                f"(header {CSRF_HEADER.title()}): reload the page, or use a bearer token"
            )


def _sign(session: str, nonce: str) -> str:
    return hmac.new(session.encode(), f"xene-csrf:{nonce}".encode(), hashlib.sha256).hexdigest()


async def _login_token(request: Request) -> str:
    """The token of a login request `{"token": "..."}`, sent as JSON only.

    JSON only: a cross-site form cannot send it without a CORS preflight, which this server
    never grants, so no other site can log a browser in under a token of its choosing.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise BadRequest('log in with a JSON body {"token": "..."} (Content-Type application/json)')
    raw = await read_capped(request, MAX_LOGIN_BODY_BYTES)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"request body is not JSON: {exc}") from exc
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise Invalid([FieldError("token", "give the API token as a non-empty string")])
    return token.strip()


def build_session_router(auth: Authenticator) -> APIRouter:
    """`/api/v1/login`, `/logout` and `/whoami`: reachable without credentials."""
    router = APIRouter(prefix="/api/v1", tags=["session"])

    @router.get("/whoami")
    async def whoami(request: Request) -> JSONResponse:
        """`{"authenticated", "name", "role"}` of the caller; 401 when a token is required."""
        return JSONResponse(auth.identify(request).to_dict(), headers={"Cache-Control": "no-store"})

    @router.post("/login")
    async def login(request: Request) -> JSONResponse:
        """Check a token and keep it in an HttpOnly session cookie, with a fresh CSRF token."""
        token = await _login_token(request)
        if not auth.required:
            return JSONResponse(ANONYMOUS_ADMIN.to_dict())
        identity = auth.token_identity(token)
        if identity is None:
            raise Unauthenticated("wrong token")
        response = JSONResponse(identity.to_dict(), headers={"Cache-Control": "no-store"})
        secure = request.url.scheme == "https"
        common: dict[str, Any] = {
            "max_age": SESSION_MAX_AGE_SECONDS,
            "path": "/",
            "samesite": "strict",
            "secure": secure,
        }
        response.set_cookie(SESSION_COOKIE, token, httponly=True, **common)
        response.set_cookie(CSRF_COOKIE, auth.new_csrf_token(token), httponly=False, **common)
        return response

    @router.post("/logout")
    async def logout() -> JSONResponse:
        """Forget the session: both cookies are cleared."""
        response = JSONResponse(
            {"loggedOut": True},
            headers={"Cache-Control": "no-store"},
        )
        for name, httponly in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
            response.delete_cookie(name, path="/", samesite="strict", httponly=httponly)
        return response

    return router
