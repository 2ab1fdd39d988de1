"""The agent's contract with the server, in plain data types (like Woodpecker's `rpc/peer.go`).

Everything the agent's parts exchange with the server is one of these types; only the
connection (`xene.agent.connection`) knows how they travel (protocol buffers on one gRPC stream)
and translates in both directions:

    server -> agent   Command (StartRun | CancelRun), assignments (supervisor.AssignedPipeline),
                      CreateRunResult (the answer to create_run)
    agent -> server   Report (RunUpdate | LogChunk) through the outbox, and the ServerPeer calls
                      (create_run, report_trigger_state) the cron controller makes

The outbox stores reports encoded by a ReportCodec the connection provides, so reports written
to disk by one agent process are read back by the next in the same form they are sent in.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from xene.api.pipeline import Pipeline
from xene.api.plan import RunPlan
from xene.api.run import PipelineRun

FINISHED_PHASES = ("Succeeded", "Failed", "Cancelled")


# -- server -> agent: commands ------------------------------------------------------------------


@dataclass(frozen=True)
class StartRun:
    """Execute attempt `attempt` of a run: the run object, its pipeline, and the plan the server
    compiled from that pipeline (None from a server that sends no plan: the agent compiles it)."""

    id: str
    run: PipelineRun
    attempt: int
    pipeline: Pipeline
    plan: RunPlan | None = None

    @property
    def name(self) -> str:
        """The run's name."""
        return self.run.metadata.name


@dataclass(frozen=True)
class CancelRun:
    """Stop attempt `attempt` of `run` (any attempt when 0)."""

    id: str
    run: str
    attempt: int = 0
    reason: str = "cancelled"


Command = StartRun | CancelRun

CommandHandler = Callable[[Command], str | None]
"""Takes over one command; returns None when accepted, else why it was refused."""


# -- agent -> server: run reports ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunUpdate:
    """Progress of one attempt: the status fields the agent owns (JSON) and the engine events
    since the last update (a JSON list)."""

    run: str
    attempt: int
    seq: int
    status_json: bytes
    events_json: bytes = b"[]"

    @property
    def final(self) -> bool:
        """Whether this update carries a finished phase (the attempt's result)."""
        try:
            status = json.loads(self.status_json or b"{}")
        except ValueError:
            return False
        return isinstance(status, dict) and status.get("phase") in FINISHED_PHASES


@dataclass(frozen=True, slots=True)
class LogChunk:
    """Output lines of one step of one attempt, in order; `streams` and `times` are parallel to
    `lines`. `truncated` marks the chunk after which the step's output was cut at its limit."""

    run: str
    attempt: int
    seq: int
    task: str
    step: str
    streams: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    truncated: bool = False

    @property
    def final(self) -> bool:
        """Log chunks never carry a result."""
        return False


Report = RunUpdate | LogChunk


class ReportCodec(Protocol):
    """How reports are written down: the outbox stores and the connection sends these bytes."""

    def encode(self, report: Report) -> bytes:
        """The report's bytes."""
        ...

    def decode(self, data: bytes) -> Report:
        """The report `data` holds; ValueError when it holds none."""
        ...


# -- agent -> server: requests ------------------------------------------------------------------


@dataclass(frozen=True)
class CreateRunResult:
    """The server's answer to create_run: the run (new, or the one the dedup key found), or why
    none was made (`error`: a problem; `skipped`: the concurrency policy decided against it)."""

    run: str | None = None
    number: int = 0
    created: bool = False
    error: str | None = None
    skipped: str | None = None


class ServerPeer(Protocol):
    """What the agent's trigger controllers ask of the server."""

    async def create_run(
        self,
        pipeline: str,
        *,
        trigger: dict[str, Any],
        parameters: dict[str, str],
        env: dict[str, str],
        dedup_key: str,
        concurrency_policy: str,
    ) -> CreateRunResult:
        """Ask for a run of `pipeline`. Raises Unavailable when the server cannot be asked."""
        ...

    async def report_trigger_state(self, trigger: str, status: dict[str, Any]) -> None:
        """Tell the server what the agent observed of a trigger (best effort)."""
        ...
