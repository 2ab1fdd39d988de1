"""Outgoing notifications of run events: JSON webhooks configured on the apiserver.

`publish` only puts events on a bounded queue per notifier; a background worker per notifier
delivers them in order, each POST bounded by a timeout and retried a few times. A notifier that
fails, hangs or falls behind never blocks or fails a run: what it could not deliver is recorded
as a `NotifierFailed` event of the run (through `record_events`, never published again).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from xene import __version__
from xene.api.errors import FieldError, Invalid
from xene.api.meta import API_VERSION, utc_now
from xene.api.run import PipelineRun

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Xene-Signature-256"
EVENT_HEADER = "X-Xene-Event"
NOTIFIER_FAILED = "NotifierFailed"
DEFAULT_QUEUE_SIZE = 1000

RecordEvents = Callable[[str, list[dict[str, Any]]], Awaitable[None]]


class NotifierSettings(BaseModel):
    """One outgoing webhook: where to POST, which events, how long to wait, how to sign.

    Given as a bare URL (flag `--notifier-webhook`, `XENE_APISERVER_NOTIFIERS`) or as a mapping
    in the config file: `{url, events, timeout_seconds, retries, secret_env | secret_file}`.
    """

    # A misspelt key (`secret_evn`) must not leave a webhook silently unsigned.
    model_config = ConfigDict(extra="forbid")

    url: str
    events: list[str] = Field(default_factory=list)  # empty: every event
    timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    retries: int = Field(default=2, ge=0, le=10)
    retry_backoff_seconds: float = Field(default=1.0, ge=0, le=60)
    secret_env: str | None = None
    secret_file: Path | None = None
    queue_size: int = Field(default=DEFAULT_QUEUE_SIZE, ge=1, le=1_000_000)

    @model_validator(mode="before")
    @classmethod
    def _from_url(cls, value: Any) -> Any:
        return {"url": value} if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"'{value}' is not an http:// or https:// URL")
        return value.strip()

    @model_validator(mode="after")
    def _one_secret(self) -> NotifierSettings:
        if self.secret_env and self.secret_file:
            raise ValueError("give the secret with secret_env or secret_file, not both")
        return self

    def __repr_args__(self) -> Any:
        # Settings are logged at start; a webhook URL's path or query may be its credential.
        for name, value in super().__repr_args__():
            yield name, (self.display_url if name == "url" else value)

    @property
    def display_url(self) -> str:
        """The URL for logs and events: no credentials, query or path beyond its first segment
        (chat webhooks carry their token in the path)."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        segments = parts.path.strip("/").split("/")
        path = f"/{segments[0]}/..." if len(segments) > 1 else parts.path
        return urlunsplit((parts.scheme, host, path, "", ""))

    def wants(self, event_type: str) -> bool:
        """True when this notifier is to receive events of `event_type`."""
        return not self.events or event_type in self.events

    def load_secret(self) -> bytes | None:
        """The HMAC secret, read from the environment or a file; Invalid when it is missing."""
        if self.secret_env:
            value = os.environ.get(self.secret_env)
            if not value:
                raise Invalid(
                    [
                        FieldError(
                            "notifiers.secret_env",
                            f"environment variable {self.secret_env} (secret of the notifier "
                            f"{self.display_url}) is not set",
                        )
                    ]
                )
            return value.encode()
        if self.secret_file:
            try:
                secret = self.secret_file.expanduser().read_bytes().strip()
            except OSError as exc:
                raise Invalid(
                    [
                        FieldError(
                            "notifiers.secret_file",
                            f"cannot read {self.secret_file}: {exc.strerror}",
                        )
                    ]
                ) from exc
            if not secret:
                raise Invalid([FieldError("notifiers.secret_file", f"{self.secret_file} is empty")])
            return secret
        return None


def event_type(event: dict[str, Any]) -> str:
    """The name of an event (`RunSucceeded`); the engine calls it `kind`, others `type`."""
    return str(event.get("kind") or event.get("type") or "")


def signature(secret: bytes, body: bytes) -> str:
    """The X-Xene-Signature-256 value of `body`: `sha256=` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def notification_body(run: PipelineRun, event: dict[str, Any]) -> dict[str, Any]:
    """The JSON POSTed for one event; `text` makes it readable by Slack-compatible receivers."""
    spec = run.spec
    kind = event_type(event)
    subject = f"{spec.workflow}/{spec.pipeline} #{spec.number}"
    detail = event.get("task")
    if event.get("step"):
        detail = f"{detail}/{event['step']}"
    text = f"{subject}: {kind}" + (f" ({detail})" if detail else "")
    if event.get("message"):
        text += f": {event['message']}"
    return {
        "apiVersion": API_VERSION,
        "kind": "RunNotification",
        "event": kind,
        "text": text,
        "run": {
            "name": run.metadata.name,
            "workflow": spec.workflow,
            "pipeline": spec.pipeline,
            "number": spec.number,
            "phase": run.status.phase.value,
            "trigger": spec.trigger.type,
        },
        "data": event,
    }


@dataclass(frozen=True)
class _Delivery:
    run: str
    event_type: str
    body: bytes


@dataclass
class _Notifier:
    settings: NotifierSettings
    secret: bytes | None
    queue: asyncio.Queue[_Delivery]
    # Events dropped because the queue was full, per run: recorded by the worker when it can.
    dropped: dict[str, int] = field(default_factory=dict)


class NotifierHub:
    """Fans run events out to the configured notifiers; publish() never blocks or raises."""

    def __init__(
        self,
        settings: list[NotifierSettings],
        record_events: RecordEvents,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._notifiers = [
            _Notifier(s, s.load_secret(), asyncio.Queue(maxsize=s.queue_size)) for s in settings
        ]
        self._record_events = record_events
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._workers: list[asyncio.Task[None]] = []

    @property
    def notifier_count(self) -> int:
        """How many notifiers are configured."""
        return len(self._notifiers)

    async def start(self) -> None:
        """Start one delivery worker per notifier."""
        if not self._notifiers or self._workers:
            return
        self._client = httpx.AsyncClient(
            transport=self._transport,
            headers={"User-Agent": f"xene/{__version__}", "Content-Type": "application/json"},
            follow_redirects=False,
        )
        for notifier in self._notifiers:
            self._workers.append(
                asyncio.create_task(
                    self._work(notifier), name=f"notifier {notifier.settings.display_url}"
                )
            )
            log.info(
                "notifier %s: events %s",
                notifier.settings.display_url,
                ", ".join(notifier.settings.events) or "all",
            )

    async def close(self) -> None:
        """Stop the workers (undelivered notifications are dropped) and close the client."""
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._workers.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def publish(self, run: PipelineRun, events: list[dict[str, Any]]) -> None:
        """Queue the events each notifier wants; a full queue drops (and later records) them."""
        for event in events:
            try:
                kind = event_type(event)
                wanted = [n for n in self._notifiers if n.settings.wants(kind)]
                if not wanted:
                    continue
                body = json.dumps(notification_body(run, event), default=str).encode()
            except Exception:  # a malformed event must not reach the caller (the report path)
                log.exception("run %s: event not published", run.metadata.name)
                continue
            delivery = _Delivery(run.metadata.name, kind, body)
            for notifier in wanted:
                try:
                    notifier.queue.put_nowait(delivery)
                except asyncio.QueueFull:
                    notifier.dropped[delivery.run] = notifier.dropped.get(delivery.run, 0) + 1

    async def _work(self, notifier: _Notifier) -> None:
        while True:
            delivery = await notifier.queue.get()
            failure = await self._deliver(notifier, delivery)
            if failure is not None:
                log.warning(
                    "notifier %s: %s of run %s not delivered: %s",
                    notifier.settings.display_url,
                    delivery.event_type,
                    delivery.run,
                    failure,
                )
                await self._record_failure(notifier, delivery.run, delivery.event_type, failure)
            while notifier.dropped:
                run, count = notifier.dropped.popitem()
                await self._record_failure(
                    notifier, run, None, f"{count} event(s) dropped: the notifier's queue was full"
                )

    async def _deliver(self, notifier: _Notifier, delivery: _Delivery) -> str | None:
        """POST one notification with retries; None when delivered, else why not."""
        assert self._client is not None
        settings = notifier.settings
        headers = {EVENT_HEADER: delivery.event_type}
        if notifier.secret is not None:
            headers[SIGNATURE_HEADER] = signature(notifier.secret, delivery.body)
        failure = "not attempted"
        attempts = settings.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                # The outer bound also covers a receiver that trickles its answer forever.
                async with asyncio.timeout(settings.timeout_seconds):
                    response = await self._client.post(
                        settings.url,
                        content=delivery.body,
                        headers=headers,
                        timeout=settings.timeout_seconds,
                    )
                if response.is_success:
                    return None
                failure = f"HTTP {response.status_code}"
                if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
                    return failure  # the receiver refuses it: retrying will not help
            except (TimeoutError, httpx.TimeoutException):
                failure = f"no answer within {settings.timeout_seconds:g}s"
            except httpx.HTTPError as exc:
                failure = str(exc) or type(exc).__name__
            if attempt < attempts:
                await asyncio.sleep(settings.retry_backoff_seconds * attempt)
        return f"{failure} (after {attempts} attempt{'s' if attempts > 1 else ''})"

    async def _record_failure(
        self, notifier: _Notifier, run: str, kind: str | None, message: str
    ) -> None:
        event: dict[str, Any] = {
            "kind": NOTIFIER_FAILED,
            "type": NOTIFIER_FAILED,
            "time": utc_now().isoformat(),
            "notifier": notifier.settings.display_url,
            "message": message,
        }
        if kind:
            event["event"] = kind
        try:
            await self._record_events(run, [event])
        except Exception as exc:  # the run may be gone meanwhile; never stop the worker
            log.warning("run %s: notifier failure not recorded: %s", run, exc)
