"""A hand-driven clock and an in-memory server for the cron controller's tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from xene.agent.contract import CreateRunResult
from xene.api.errors import Unavailable


class ManualClock:
    """Time moves only when the test says so; sleepers wake when their moment has come."""

    def __init__(self, start: datetime) -> None:
        self.time = start
        self._moved = asyncio.Condition()

    def now(self) -> datetime:
        return self.time

    async def sleep(self, seconds: float) -> None:
        target = self.time + timedelta(seconds=max(seconds, 0.0))
        async with self._moved:
            await self._moved.wait_for(lambda: self.time >= target)

    async def advance(self, seconds: float, step: float = 1.0) -> None:
        """Move time forward in `step`s, letting every woken task run after each."""
        end = self.time + timedelta(seconds=seconds)
        while self.time < end:
            self.time = min(self.time + timedelta(seconds=step), end)
            async with self._moved:
                self._moved.notify_all()
            await settle()


async def settle(rounds: int = 50) -> None:
    """Let ready tasks run until they block again."""
    for _ in range(rounds):
        await asyncio.sleep(0)


@dataclass
class FakeServer:
    """The server side of CreateRun: numbering, idempotency keys, concurrency policies."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)
    unfinished: set[str] = field(default_factory=set)
    cancelled: list[str] = field(default_factory=list)
    states: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def create(self, pipeline: str, **request: Any) -> CreateRunResult:
        self.requests.append({"pipeline": pipeline, **request})
        key = f"{pipeline}/{request['dedup_key']}"
        if key in self.keys:
            return CreateRunResult(run=self.keys[key], created=False)
        policy = request["concurrency_policy"]
        if policy == "Forbid" and self.unfinished:
            return CreateRunResult(skipped=f"run {sorted(self.unfinished)[0]} is not finished")
        if policy == "Replace":
            self.cancelled.extend(sorted(self.unfinished))
            self.unfinished.clear()
        number = len(self.runs) + 1
        name = f"{pipeline}.{number}"
        self.runs.append({"name": name, "pipeline": pipeline, **request})
        self.keys[key] = name
        self.unfinished.add(name)
        return CreateRunResult(run=name, number=number, created=True)

    def scheduled_times(self) -> list[str]:
        return [run["trigger"]["scheduledTime"] for run in self.runs]


class FakeConnection:
    """One agent's connection to the FakeServer; `offline` makes calls raise Unavailable."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.offline = False

    async def create_run(
        self,
        pipeline: str,
        *,
        trigger: dict[str, Any],
        parameters: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        dedup_key: str = "",
        concurrency_policy: str = "Allow",
    ) -> CreateRunResult:
        if self.offline:
            raise Unavailable("not connected to the apiserver")
        return self.server.create(
            pipeline,
            trigger=trigger,
            parameters=parameters,
            env=env,
            dedup_key=dedup_key,
            concurrency_policy=concurrency_policy,
        )

    async def report_trigger_state(self, trigger: str, status: dict[str, Any]) -> None:
        if not self.offline:
            self.server.states.append((trigger, dict(status)))
