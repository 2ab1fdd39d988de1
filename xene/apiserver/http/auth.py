"""Bearer-token check for the REST API, when the server was given a token."""

from __future__ import annotations

import hmac

from fastapi import Request

from xene.api.errors import Unauthenticated


def check_bearer(request: Request, expected: str) -> None:
    """Raise Unauthenticated unless the request carries `Authorization: Bearer <expected>`."""
    if not expected:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("missing bearer token: pass --token, XENE_TOKEN or ~/.xene/config")
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise Unauthenticated("wrong bearer token")
