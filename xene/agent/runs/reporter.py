"""Turns one run attempt's engine events and log lines into RunUpdate and LogChunk reports.

Status goes out as full snapshots (phase, startedAt, finishedAt, message, tasks), so a lost or
coalesced update costs nothing but latency: at most one every `update_interval` seconds, and at
once when the run's phase changes and when the run ends. Events travel with the next snapshot.
Output is batched per step: a batch goes out after `log_interval` seconds or `log_batch` lines,
and when its step ends, so a running step's lines reach the server while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from xene.agent.runs.outbox import Outbox
from xene.api.run import PipelineRunStatus
from xene.engine.events import (
    LogLine,
    RunCancelled,
    RunEvent,
    RunFailed,
    RunObserver,
    RunStarted,
    RunSucceeded,
    StepFailed,
    StepSucceeded,
)

log = logging.getLogger(__name__)

DEFAULT_UPDATE_INTERVAL = 0.2
DEFAULT_LOG_INTERVAL = 0.1
DEFAULT_LOG_BATCH = 100
# The PipelineRun.status fields the agent owns (the server keeps the others).
STATUS_FIELDS = {"phase", "startedAt", "finishedAt", "message", "tasks"}
_PHASE_EVENTS = (RunStarted, RunSucceeded, RunFailed, RunCancelled)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def event_document(event: RunEvent) -> dict[str, Any]:
    """An engine event as the JSON the server records: `type`, `time`, then its fields."""
    data = event.to_dict()
    document: dict[str, Any] = {"type": data.pop("kind"), "time": data.pop("time")}
    data.pop("run_id", None)
    for key, value in data.items():
        document[_camel(key)] = list(value) if isinstance(value, tuple) else value
    return document


def status_document(status: PipelineRunStatus) -> bytes:
    """The agent-owned fields of a status snapshot as compact JSON (phase first).

    Fields at their default are left out: the server reads them back as the same defaults, the
    snapshot is smaller, and a server that predates a field (a task's allowFailure) still reads
    the snapshots of runs that do not use it.
    """
    data = status.model_dump(mode="json", include=STATUS_FIELDS, exclude_defaults=True)
    return json.dumps(data, separators=(",", ":")).encode()


@dataclass(frozen=True)
class ReportPacing:
    """How often reports go out: snapshots at most every `update_interval` seconds, output
    batches after `log_interval` seconds or `log_batch` lines."""

    update_interval: float = DEFAULT_UPDATE_INTERVAL
    log_interval: float = DEFAULT_LOG_INTERVAL
    log_batch: int = DEFAULT_LOG_BATCH


@dataclass
class _StepBuffer:
    streams: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    since: float = 0.0
    # The step wrote past its limit; once that chunk went out, the buffer takes nothing more.
    truncated: bool = False
    done: bool = False


class RunReporter(RunObserver):
    """Engine observer of one run attempt that feeds the outbox; use as `async with`.

    `status` returns the run's current status (the runner's `status`); it is read when a
    snapshot goes out, so bursts of events cost one snapshot.
    """

    def __init__(
        self,
        outbox: Outbox,
        run: str,
        attempt: int,
        status: Callable[[], PipelineRunStatus],
        *,
        pacing: ReportPacing | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        pacing = pacing or ReportPacing()
        self.outbox = outbox
        self.run = run
        self.attempt = attempt
        self._status = status
        self._update_interval = pacing.update_interval
        self._log_interval = pacing.log_interval
        self._log_batch = pacing.log_batch
        self._monotonic = monotonic
        self._events: list[dict[str, Any]] = []
        self._dirty = False
        self._last_update: float | None = None
        self._buffers: dict[tuple[str, str, int], _StepBuffer] = {}
        self._wakeup = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self.updates_sent = 0
        self.chunks_sent = 0

    async def __aenter__(self) -> RunReporter:
        self._flusher = asyncio.create_task(self._flush_when_due(), name=f"report {self.run}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop the timer and send whatever is still buffered (the last snapshot included)."""
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.cancel()
            try:
                await flusher
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("run %s: sending reports on time failed", self.run)
        self.flush()

    # -- observer -------------------------------------------------------------------------

    async def on_event(self, event: RunEvent) -> None:
        """Record the event; phase changes and step ends go out at once."""
        self._events.append(event_document(event))
        self._dirty = True
        if isinstance(event, StepSucceeded | StepFailed):
            # The step's last lines before the status that says it ended.
            self._send_step(event.task, event.step, event.attempt)
        if isinstance(event, _PHASE_EVENTS):
            self.flush()
            return
        now = self._monotonic()
        if self._last_update is None or now - self._last_update >= self._update_interval:
            self._send_update(now)
        else:
            self._wakeup.set()

    async def on_log(self, line: LogLine) -> None:
        """Buffer the line; a full batch goes out at once."""
        key = (line.task, line.step, line.attempt)
        buffer = self._buffers.get(key)
        if buffer is None:
            buffer = self._buffers[key] = _StepBuffer()
        if buffer.truncated:
            return
        if line.truncated:
            # Not the engine's marker line: the server writes its own for a truncated chunk.
            buffer.truncated = True
            self._send_step(*key)
            return
        if not buffer.lines:
            buffer.since = self._monotonic()
            self._wakeup.set()
        buffer.streams.append(line.stream)
        buffer.lines.append(line.line)
        buffer.times.append(line.time.timestamp())
        if len(buffer.lines) >= self._log_batch:
            self._send_step(*key)

    # -- sending --------------------------------------------------------------------------

    def flush(self) -> None:
        """Send every buffered line and, if anything changed, a snapshot."""
        for key in list(self._buffers):
            self._send_step(*key)
        if self._dirty or self._last_update is None:
            self._send_update(self._monotonic())

    def _send_step(self, task: str, step: str, attempt: int) -> None:
        buffer = self._buffers.get((task, step, attempt))
        if buffer is None or buffer.done or not (buffer.lines or buffer.truncated):
            return
        self.outbox.add_log_chunk(
            self.run,
            self.attempt,
            task,
            step,
            buffer.streams,
            buffer.lines,
            buffer.times,
            truncated=buffer.truncated,
        )
        self.chunks_sent += 1
        buffer.streams, buffer.lines, buffer.times = [], [], []
        buffer.done = buffer.truncated

    def _send_update(self, now: float) -> None:
        events, self._events = self._events, []
        self.outbox.add_run_update(
            self.run,
            self.attempt,
            status_document(self._status()),
            json.dumps(events, separators=(",", ":")).encode(),
        )
        self.updates_sent += 1
        self._dirty = False
        self._last_update = now

    async def _flush_when_due(self) -> None:
        while True:
            due = self._next_due()
            if due is None:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            delay = due - self._monotonic()
            if delay > 0:
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=delay)
                continue
            now = self._monotonic()
            for key, buffer in list(self._buffers.items()):
                if buffer.lines and now - buffer.since >= self._log_interval:
                    self._send_step(*key)
            if self._dirty and (
                self._last_update is None or now - self._last_update >= self._update_interval
            ):
                self._send_update(now)

    def _next_due(self) -> float | None:
        due: list[float] = [
            buffer.since + self._log_interval for buffer in self._buffers.values() if buffer.lines
        ]
        if self._dirty:
            last = self._last_update
            due.append(self._monotonic() if last is None else last + self._update_interval)
        return min(due) if due else None
