"""The logs endpoint's `tailLines`, `sinceSeconds` and `timestamps`, on a real FileLogStore, and
a follow that ends once its run cannot start (on the in-memory store)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from tests.unit.apiserver.world import ServerWorld
from xene.api.run import RunTrigger
from xene.apiserver.http.runs import LogFollower, LogQuery
from xene.apiserver.services.logstore import FileLogStore, LogRecord

RUN = "wf.p.1"


async def stored(tmp_path: Path, query: LogQuery) -> str:
    store = FileLogStore(tmp_path)
    now = time.time()
    old = [LogRecord("a", "s", 1, "stdout", now - 600 + i, f"old {i}") for i in range(3)]
    new = [LogRecord("b", "s", 1, "stdout", now - 10 + i, f"new {i}") for i in range(2)]
    await store.append(RUN, 1, "a", "s", old)
    await store.append(RUN, 1, "b", "s", new)
    runs: Any = None  # reading stored lines needs no run service
    return await LogFollower(runs, store, RUN, query).stored()


async def test_tail_keeps_the_last_lines(tmp_path: Path) -> None:
    text = await stored(tmp_path, LogQuery(tail_lines=2))
    assert text == "[b/s] new 0\n[b/s] new 1\n"
    assert await stored(tmp_path / "0", LogQuery(tail_lines=0)) == ""
    everything = await stored(tmp_path / "all", LogQuery(tail_lines=99))
    assert everything.count("\n") == 5


async def test_since_keeps_the_recent_lines_and_tail_counts_among_them(tmp_path: Path) -> None:
    assert await stored(tmp_path, LogQuery(since_seconds=60)) == "[b/s] new 0\n[b/s] new 1\n"
    both = await stored(tmp_path / "both", LogQuery(since_seconds=60, tail_lines=1))
    assert both == "[b/s] new 1\n"


async def test_timestamps_lead_each_line_in_rfc3339(tmp_path: Path) -> None:
    text = await stored(tmp_path, LogQuery(task="b", step="s", timestamps=True))
    first, _ = text.splitlines()
    stamp, _, line = first.partition(" ")
    assert line == "new 0"
    assert (
        stamp.endswith("Z")
        and stamp[10] == "T"
        and len(stamp) == len("2024-05-01T10:00:00.000000Z")
    )


async def test_a_follow_ends_when_the_run_cannot_start_and_the_run_says_why(
    world: ServerWorld,
) -> None:
    await world.create_pipeline("p", os="plan9")
    await world.caught_up()
    await world.scheduler.reconcile("wf.p")
    made = await world.runs.create_run("wf.p", trigger=RunTrigger(type="manual"))
    assert made.run is not None

    follower = LogFollower(world.runs, world.logs, made.run.metadata.name, LogQuery())
    async with asyncio.timeout(5):
        sent = [line async for line in follower.lines()]

    assert sent == []
    reason = await world.runs.why_waiting(await world.run("wf.p.1"))
    assert reason is not None and "NotScheduled (NoMatchingAgent)" in reason
