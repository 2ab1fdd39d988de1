"""The one place XeneErrors become HTTP status codes and Status bodies."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from xene.api import errors
from xene.api.meta import API_VERSION

log = logging.getLogger(__name__)

_CODES: list[tuple[type[errors.XeneError], int]] = [
    (errors.BadRequest, 400),
    (errors.Unauthenticated, 401),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.AlreadyExists, 409),
    (errors.Conflict, 409),
    (errors.Gone, 410),
    (errors.TooLarge, 413),
    (errors.Invalid, 422),
    (errors.Unavailable, 503),
]


def status_code_of(exc: errors.XeneError) -> int:
    """The HTTP status for an error; a reason of MethodNotAllowed means 405."""
    if exc.reason == "MethodNotAllowed":
        return 405
    for cls, code in _CODES:
        if isinstance(exc, cls):
            return code
    return 500


def status_body(code: int, reason: str, message: str, causes: list[Any] | None = None) -> dict:
    """A Kubernetes-style Status object."""
    body: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "Status",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }
    if causes:
        body["details"] = {"causes": causes}
    return body


def error_body(exc: errors.XeneError) -> tuple[int, dict]:
    """Status code and Status body for a XeneError."""
    code = status_code_of(exc)
    causes = None
    if isinstance(exc, errors.Invalid) and exc.errors:
        causes = [{"field": e.path, "message": e.message} for e in exc.errors]
    return code, status_body(code, exc.reason, exc.message, causes)


def install_error_handlers(app: FastAPI) -> None:
    """Map every failure to a Status body; user mistakes are 4xx, never 500."""

    @app.exception_handler(errors.XeneError)
    async def _xene_error(request: Request, exc: errors.XeneError) -> JSONResponse:
        code, body = error_body(exc)
        if code >= 500:
            log.warning("%s %s: %s", request.method, request.url.path, exc.message)
        headers = {"Retry-After": "1"} if code == 503 else None
        return JSONResponse(body, status_code=code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _bad_parameters(request: Request, exc: RequestValidationError) -> JSONResponse:
        causes = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        message = "; ".join(f"{c['field']}: {c['message']}" for c in causes) or "bad request"
        return JSONResponse(status_body(400, "BadRequest", message, causes), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "Error")
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"no such path: {request.url.path}"
        return JSONResponse(
            status_body(exc.status_code, reason, message), status_code=exc.status_code
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error serving %s %s", request.method, request.url.path)
        return JSONResponse(
            status_body(500, "InternalError", "internal server error; see the server log"),
            status_code=500,
        )
