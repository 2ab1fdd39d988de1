"""The HTTP client of the Xene REST API: objects out as dicts, Status errors as xene.api.errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, cast
from urllib.parse import quote

import httpx

from xene.api.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    FieldError,
    Gone,
    Invalid,
    NotFound,
    TooLarge,
    Unauthenticated,
    Unavailable,
    XeneError,
)
from xene.ctl.config import CtlSettings
from xene.ctl.errors import ServerUnreachable
from xene.ctl.output import list_document

API_PREFIX = "/api/v1"
DEFAULT_TIMEOUT_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 5.0

ApplyAction = Literal["created", "configured", "unchanged"]
WatchEventType = Literal["ADDED", "MODIFIED", "DELETED"]
EventList = list[dict[str, Any]]


class ServerError(XeneError):
    """A Status with no class of its own (405 MethodNotAllowed, 500), or an unreadable answer."""

    def __init__(self, message: str, reason: str, code: int) -> None:
        super().__init__(message)
        self.reason = reason
        self.code = code


_BY_REASON: dict[str, type[XeneError]] = {
    cls.reason: cls
    for cls in (
        AlreadyExists,
        BadRequest,
        Conflict,
        Gone,
        NotFound,
        TooLarge,
        Unauthenticated,
        Unavailable,
    )
}
_BY_CODE: dict[int, type[XeneError]] = {
    400: BadRequest,
    401: Unauthenticated,
    404: NotFound,
    409: Conflict,
    410: Gone,
    413: TooLarge,
    503: Unavailable,
}


def error_from_status(status: Any, code: int) -> XeneError:
    """The exception a Status body (or any error body) of HTTP `code` stands for."""
    if not isinstance(status, dict) or status.get("kind") != "Status":
        text = json.dumps(status) if not isinstance(status, str) else status
        return ServerError(f"HTTP {code}: {text.strip()[:300]}", f"HTTP{code}", code)
    message = str(status.get("message") or f"HTTP {code}")
    reason = str(status.get("reason") or "")
    code = int(status.get("code") or code)
    details = status.get("details")
    causes = details.get("causes") if isinstance(details, dict) else None
    if not isinstance(causes, list):
        causes = []
    if reason == "Invalid" or (code == 422 and reason not in _BY_REASON):
        errors = [
            FieldError(str(cause.get("field") or ""), str(cause.get("message") or ""))
            for cause in causes
            if isinstance(cause, dict)
        ]
        return Invalid(errors or [FieldError("", message)], message)
    cls = _BY_REASON.get(reason) or _BY_CODE.get(code)
    if cls is None:
        return ServerError(message, reason or f"HTTP{code}", code)
    return cls(message)


def _error_from_response(response: httpx.Response) -> XeneError:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    return error_from_status(body, response.status_code)


def _transport_cause(exc: httpx.TransportError) -> str:
    """A few words saying why no answer came, e.g. `connection refused`."""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection was closed unexpectedly"
    inner: BaseException | None = exc
    while inner is not None:
        if isinstance(inner, OSError) and inner.strerror:
            return inner.strerror.lower()
        inner = inner.__cause__ or inner.__context__
    return str(exc) or type(exc).__name__


@dataclass(frozen=True)
class ResourceList:
    """One page of objects of one kind and the revision it was read at."""

    kind: str
    items: list[dict[str, Any]] = field(default_factory=list)
    resource_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A `List` object, the form `get -o yaml|json` prints."""
        return list_document(self.items, self.resource_version)


@dataclass(frozen=True)
class WatchEvent:
    """One change of one object, as streamed by a watch."""

    type: WatchEventType
    object: dict[str, Any]


class XeneClient:
    """Synchronous client of the REST API (`/api/v1`), one connection pool per instance."""

    def __init__(
        self,
        server: str,
        token: str | None = None,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        headers = {"Accept": "application/json", "User-Agent": "xenectl"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._timeout = httpx.Timeout(
            timeout_seconds, connect=min(timeout_seconds, CONNECT_TIMEOUT_SECONDS)
        )
        self._http = httpx.Client(
            base_url=self.server, headers=headers, timeout=self._timeout, transport=transport
        )

    @classmethod
    def from_settings(
        cls,
        settings: CtlSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> XeneClient:
        """A client for the server and token of `settings`."""
        return cls(
            settings.server,
            settings.token_value,
            transport=transport,
            timeout_seconds=timeout_seconds,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> XeneClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def version(self) -> str:
        """The server's version string."""
        body = self._request("GET", "/version").json()
        return str(body.get("version", "unknown")) if isinstance(body, dict) else "unknown"

    def get(self, kind_plural: str, name: str) -> dict[str, Any]:
        """One object; NotFound when it does not exist."""
        return cast(dict[str, Any], self._request("GET", _object_path(kind_plural, name)).json())

    def list(self, kind_plural: str, label_selector: str | None = None) -> ResourceList:
        """All objects of a kind, optionally only those matching `k=v,k2=v2`."""
        params = {"labelSelector": label_selector} if label_selector else {}
        body = self._request("GET", _kind_path(kind_plural), params=params).json()
        metadata = body.get("metadata") or {}
        return ResourceList(
            kind=str(body.get("kind", "List")),
            items=list(body.get("items") or []),
            resource_version=metadata.get("resourceVersion"),
        )

    def apply(self, document: dict[str, Any]) -> tuple[ApplyAction, dict[str, Any]]:
        """Create or update one object: (`created`|`configured`|`unchanged`, stored object)."""
        body = self._request("POST", f"{API_PREFIX}/apply", json=document).json()
        action = body.get("action") if isinstance(body, dict) else None
        if action not in ("created", "configured", "unchanged"):
            raise ServerError(f"unexpected answer to apply: {str(body)[:300]}", "BadResponse", 200)
        return cast(ApplyAction, action), dict(body.get("object") or {})

    def delete(self, kind_plural: str, name: str) -> dict[str, Any]:
        """Delete one object and return it as it was last stored."""
        return cast(dict[str, Any], self._request("DELETE", _object_path(kind_plural, name)).json())

    def watch(
        self,
        kind_plural: str,
        *,
        label_selector: str | None = None,
        resource_version: str | None = None,
    ) -> Iterator[WatchEvent]:
        """Changes of a kind as they happen; without a revision the current objects come first.

        Ends when the server closes the stream; raises Gone when the revision was compacted.
        """
        params = {"watch": "true"}
        if label_selector:
            params["labelSelector"] = label_selector
        if resource_version:
            params["resourceVersion"] = resource_version
        # A watch may stay quiet for a long time: only the connect is bounded.
        timeout = httpx.Timeout(None, connect=CONNECT_TIMEOUT_SECONDS)
        try:
            with self._http.stream(
                "GET", _kind_path(kind_plural), params=params, timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error_from_response(response)
                for line in response.iter_lines():
                    if line.strip():
                        yield _watch_event(line)
        except httpx.TransportError as exc:
            raise ServerUnreachable(self.server, _transport_cause(exc)) from exc

    def start_run(self, pipeline: str, parameters: dict[str, str] | None = None) -> dict[str, Any]:
        """Start a run of the Pipeline object `pipeline` (`workflow.pipeline`); the new run."""
        body = {"parameters": dict(parameters or {})}
        path = f"{_object_path('pipelines', pipeline)}/runs"
        return cast(dict[str, Any], self._request("POST", path, json=body).json())

    def list_runs(
        self, label_selector: str | None = None, phase: str | None = None
    ) -> ResourceList:
        """Runs, newest first, optionally only those with these labels and this phase."""
        params = {k: v for k, v in (("labelSelector", label_selector), ("phase", phase)) if v}
        body = self._request("GET", _kind_path("pipelineruns"), params=params).json()
        return ResourceList(
            kind=str(body.get("kind", "List")),
            items=list(body.get("items") or []),
            resource_version=(body.get("metadata") or {}).get("resourceVersion"),
        )

    def cancel_run(self, name: str) -> dict[str, Any]:
        """Ask the server to stop a run; the run as stored after the request."""
        path = f"{_object_path('pipelineruns', name)}/cancel"
        return cast(dict[str, Any], self._request("POST", path).json())

    def rerun(self, name: str) -> dict[str, Any]:
        """Start a new run with the parameters and trigger payload of run `name`; the new run."""
        path = f"{_object_path('pipelineruns', name)}/rerun"
        return cast(dict[str, Any], self._request("POST", path).json())

    def set_trigger_suspended(self, name: str, suspend: bool) -> dict[str, Any]:
        """Suspend or resume trigger `name`; the trigger as stored after."""
        path = f"{_object_path('triggers', name)}/{'suspend' if suspend else 'resume'}"
        return cast(dict[str, Any], self._request("POST", path).json())

    def set_agent_cordoned(self, name: str, cordoned: bool) -> dict[str, Any]:
        """Cordon or uncordon agent `name`; the agent as stored after."""
        path = f"{_object_path('agents', name)}/{'cordon' if cordoned else 'uncordon'}"
        return cast(dict[str, Any], self._request("POST", path).json())

    def webhook_info(self, trigger: str) -> dict[str, Any]:
        """A webhook trigger's delivery URLs and whether the server holds its secret."""
        path = f"{_object_path('triggers', trigger)}/webhook"
        return cast(dict[str, Any], self._request("GET", path).json())

    def run_events(self, name: str) -> EventList:
        """The recorded events of a run, oldest first."""
        body = self._request("GET", f"{_object_path('pipelineruns', name)}/events").json()
        return list(body.get("items") or []) if isinstance(body, dict) else []

    def run_logs(
        self,
        name: str,
        *,
        task: str | None = None,
        step: str | None = None,
        attempt: int | None = None,
        follow: bool = False,
        tail_lines: int | None = None,
        since_seconds: int | None = None,
        timestamps: bool = False,
    ) -> Iterator[str]:
        """Lines of a run's output (without line ends); with `follow`, until the run ends (or
        cannot start: its pipeline is NotScheduled)."""
        params: dict[str, str] = {}
        if task:
            params["task"] = task
        if step:
            params["step"] = step
        if attempt:
            params["attempt"] = str(attempt)
        if follow:
            params["follow"] = "true"
        if tail_lines is not None:
            params["tailLines"] = str(tail_lines)
        if since_seconds is not None:
            params["sinceSeconds"] = str(since_seconds)
        if timestamps:
            params["timestamps"] = "true"
        timeout = httpx.Timeout(None, connect=CONNECT_TIMEOUT_SECONDS) if follow else self._timeout
        path = f"{_object_path('pipelineruns', name)}/logs"
        try:
            with self._http.stream(
                "GET", path, params=params, timeout=timeout, headers={"Accept": "text/plain"}
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error_from_response(response)
                yield from response.iter_lines()
        except httpx.TransportError as exc:
            raise ServerUnreachable(self.server, _transport_cause(exc)) from exc

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServerUnreachable(self.server, _transport_cause(exc)) from exc
        if response.status_code >= 400:
            raise _error_from_response(response)
        return response


def _watch_event(line: str) -> WatchEvent:
    try:
        event = json.loads(line)
    except ValueError as exc:
        raise ServerError(f"unreadable watch event: {line[:300]}", "BadResponse", 200) from exc
    kind = event.get("type") if isinstance(event, dict) else None
    if kind == "ERROR":
        status = event.get("object") or {}
        raise error_from_status(status, int(status.get("code") or 500))
    if kind not in ("ADDED", "MODIFIED", "DELETED"):
        raise ServerError(f"unexpected watch event: {line[:300]}", "BadResponse", 200)
    return WatchEvent(cast(WatchEventType, kind), dict(event.get("object") or {}))


def _kind_path(kind_plural: str) -> str:
    return f"{API_PREFIX}/{quote(kind_plural, safe='')}"


def _object_path(kind_plural: str, name: str) -> str:
    # Quoted, and dot segments refused, so a name can never step into another path of the API.
    if name in ("", ".", ".."):
        raise Invalid([FieldError("name", f"'{name}' is not an object name")])
    return f"{_kind_path(kind_plural)}/{quote(name, safe='')}"
