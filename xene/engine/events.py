"""What a run reports while it runs: typed transition events, log lines, and the observer seam.

Every state change of the run, a task or a step is one event (names follow DESIGN.md, Events).
Events of one task arrive in the order they happened, and a step's log lines arrive between its
StepStarted and its StepSucceeded/StepFailed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

log = logging.getLogger(__name__)

OutputStream = Literal["stdout", "stderr"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunEvent:
    """Base of all events: which run, and when it happened (from the injected clock)."""

    run_id: str
    time: datetime

    @property
    def kind(self) -> str:
        """The event's name, e.g. `TaskFailed`."""
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with the name under `kind` and times in ISO 8601."""
        data: dict[str, Any] = {"kind": self.kind}
        for key, value in asdict(self).items():
            data[key] = value.isoformat() if isinstance(value, datetime) else value
        return data


# Run events


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(RunEvent):
    """The run began; `tasks` in the order they are declared."""

    tasks: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSucceeded(RunEvent):
    """Every task succeeded, or failed with `allowFailure` (then `message` names those)."""

    message: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFailed(RunEvent):
    """At least one task failed or was skipped, or the pipeline's timeout expired; `message`
    says which."""

    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCancelled(RunEvent):
    """The run was cancelled before it finished."""

    message: str


# Task events


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskEvent(RunEvent):
    """Base of events about one task."""

    task: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskReady(TaskEvent):
    """All dependencies succeeded; the task waits for a free slot."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskStarted(TaskEvent):
    """An attempt of the task began (attempt 1, then 2… on retries)."""

    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskRetrying(TaskEvent):
    """An attempt failed and another follows after `delay_seconds`."""

    attempt: int
    message: str
    delay_seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSucceeded(TaskEvent):
    """Every step succeeded or was allowed to fail."""

    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskFailed(TaskEvent):
    """The last attempt failed, or the task waited longer than its waitTimeout for its
    dependencies (attempt 0); `message` says why. With `allow_failure` the run does not fail
    for it and its dependants still run."""

    attempt: int
    message: str
    allow_failure: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSkipped(TaskEvent):
    """The task never ran because a task it depends on did not succeed."""

    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskCancelled(TaskEvent):
    """The run was cancelled, or its timeout expired, before the task finished; attempt 0 if it
    never started. `message` says which."""

    attempt: int
    message: str = ""


# Step events


@dataclass(frozen=True, slots=True, kw_only=True)
class StepEvent(TaskEvent):
    """Base of events about one step of one attempt of a task."""

    step: str
    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StepStarted(StepEvent):
    """The step's command began."""

    started_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StepSucceeded(StepEvent):
    """The step's command exited 0."""

    exit_code: int
    started_at: datetime
    finished_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StepFailed(StepEvent):
    """The step errored: a non-zero exit (`exit_code`), a timeout, a cancel or an executor error.

    With `allow_failure` the task goes on with its next step.
    """

    exit_code: int | None
    message: str
    allow_failure: bool
    started_at: datetime
    finished_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class LogLine:
    """One line a step wrote, without its line ending; `number` counts from 1 per step attempt.

    `truncated` marks the engine's marker line that stands in for output dropped past the step's
    output limit; no line of that step attempt follows it.
    """

    run_id: str
    task: str
    step: str
    attempt: int
    stream: OutputStream
    number: int
    line: str
    time: datetime
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with the time in ISO 8601."""
        data = asdict(self)
        data["time"] = self.time.isoformat()
        return data


class RunObserver:
    """Receives a run's events and log lines; override what you need.

    Called on the event loop in order; a slow observer slows the run (that is the back-pressure
    for log output), an exception is logged and otherwise ignored.
    """

    async def on_event(self, event: RunEvent) -> None:
        """A state change of the run, a task or a step."""

    async def on_log(self, line: LogLine) -> None:
        """A line of a step's output, while the step runs."""


class ObserverFanout:
    """Delivers to several observers, isolating each one's failures from the run and the others."""

    def __init__(self, observers: Iterable[RunObserver]) -> None:
        self._observers = list(observers)

    def add(self, observer: RunObserver) -> None:
        """Deliver to `observer` too, after the others."""
        self._observers.append(observer)

    async def event(self, event: RunEvent) -> None:
        """Hand `event` to every observer."""
        for observer in self._observers:
            try:
                await observer.on_event(event)
            except Exception:
                log.exception("run observer %r failed on %s", observer, event.kind)

    async def log_line(self, line: LogLine) -> None:
        """Hand `line` to every observer."""
        for observer in self._observers:
            try:
                await observer.on_log(line)
            except Exception:
                log.exception("run observer %r failed on a log line", observer)
