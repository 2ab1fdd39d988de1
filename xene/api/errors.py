"""The error hierarchy every layer raises; transports map it to HTTP codes and gRPC statuses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of a submitted object, named by its path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class XeneError(Exception):
    """Root of all errors Xene raises on purpose."""

    reason = "InternalError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(XeneError):
    """The named object does not exist."""

    reason = "NotFound"


class AlreadyExists(XeneError):
    """A create found an object of that name already stored."""

    reason = "AlreadyExists"


class Conflict(XeneError):
    """A compare-and-swap lost: the object changed since it was read."""

    reason = "Conflict"


class Stale(Conflict):
    """A write rested on state read from a cache that has moved on; retry once it caught up."""


class Invalid(XeneError):
    """Submitted input is wrong; `errors` names each field at fault."""

    reason = "Invalid"

    def __init__(self, errors: list[FieldError], message: str | None = None) -> None:
        self.errors = list(errors)
        text = message or "; ".join(str(e) for e in self.errors) or "invalid input"
        super().__init__(text)


class TooLarge(XeneError):
    """Submitted input exceeds a size limit."""

    reason = "TooLarge"


class Unauthenticated(XeneError):
    """Credentials are missing or wrong."""

    reason = "Unauthenticated"


class Forbidden(XeneError):
    """The caller is known but may not do this (e.g. a cookie-authenticated write without its
    CSRF token)."""

    reason = "Forbidden"


class Unavailable(XeneError):
    """A backing service (etcd, the server) cannot be reached right now."""

    reason = "Unavailable"


class Gone(XeneError):
    """A watch asked for a revision etcd has already compacted away; re-list and watch again."""

    reason = "Gone"


class BadRequest(XeneError):
    """The request itself is malformed (unparseable body, wrong content)."""

    reason = "BadRequest"
