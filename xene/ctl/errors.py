"""How failures reach the user: one readable message each and an exit code scripts can test.

Kept free of heavy imports: the entry point needs it before it knows which command runs.
"""

from __future__ import annotations

from enum import IntEnum

from xene.api.errors import Invalid, Unauthenticated, Unavailable, XeneError


class ExitCode(IntEnum):
    """xenectl's exit codes (docs/cli.md lists them)."""

    OK = 0
    USER_ERROR = 1  # bad input, a 4xx answer, an unknown kind or name
    UNREACHABLE = 2  # no answer from the server, or the server said 503
    RUN_FAILED = 3  # `run --wait` (or `run --local`): the run ended without succeeding
    INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT


SERVER_HINT = "Is xene-apiserver running? Set --server, XENE_SERVER or ~/.xene/config."
TOKEN_HINT = "Set --token, XENE_TOKEN or `token:` in ~/.xene/config."


class ServerUnreachable(Unavailable):
    """No HTTP answer at all: nothing listens, the host is unknown, or the request timed out."""

    def __init__(self, server: str, cause: str) -> None:
        super().__init__(f"cannot reach the Xene API server at {server} ({cause})")
        self.server = server
        self.cause = cause


def exit_code_for(exc: XeneError) -> ExitCode:
    """UNREACHABLE when the server could not serve the request at all, else USER_ERROR."""
    return ExitCode.UNREACHABLE if isinstance(exc, Unavailable) else ExitCode.USER_ERROR


def error_lines(exc: XeneError) -> list[str]:
    """The lines printed to stderr for `exc`: `error: ...` then one line per field problem."""
    if isinstance(exc, ServerUnreachable):
        return [f"error: {exc.message}. {SERVER_HINT}"]
    if isinstance(exc, Unavailable):
        return [f"error: the Xene API server is unavailable: {exc.message}. Retry in a moment."]
    if isinstance(exc, Unauthenticated):
        return [f"error: the server refused the credentials: {exc.message}. {TOKEN_HINT}"]
    if isinstance(exc, Invalid) and len(exc.errors) > 1:
        return ["error: invalid input:", *(f"  {problem}" for problem in exc.errors)]
    return [f"error: {exc.message}"]
