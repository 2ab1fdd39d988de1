"""The one place XeneErrors become gRPC status codes."""

from __future__ import annotations

import grpc

from xene.api import errors

_CODES: list[tuple[type[errors.XeneError], grpc.StatusCode]] = [
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.BadRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.Invalid, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.Conflict, grpc.StatusCode.ABORTED),
    (errors.Gone, grpc.StatusCode.OUT_OF_RANGE),
    (errors.TooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
]


def grpc_code_of(exc: errors.XeneError) -> grpc.StatusCode:
    """The gRPC status code for an error; anything unexpected is INTERNAL."""
    for cls, code in _CODES:
        if isinstance(exc, cls):
            return code
    return grpc.StatusCode.INTERNAL
