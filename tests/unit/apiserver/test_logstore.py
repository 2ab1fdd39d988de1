"""FileLogStore: order, filters, per-step cap with a marker, seq bookkeeping, follow, restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from xene.api.errors import Invalid
from xene.apiserver.services.logstore import MARKER_STREAM, FileLogStore, LogRecord


def lines(task: str, step: str, *texts: str, attempt: int = 1) -> list[LogRecord]:
    return [LogRecord(task, step, attempt, "stdout", float(i), t) for i, t in enumerate(texts)]


async def test_lines_come_back_in_order_per_attempt_and_filtered(tmp_path: Path) -> None:
    store = FileLogStore(tmp_path)
    await store.append("wf.p.1", 1, "build", "compile", lines("build", "compile", "a", "b"))
    await store.append("wf.p.1", 1, "test", "unit", lines("test", "unit", "c"))
    await store.append("wf.p.1", 2, "build", "compile", lines("build", "compile", "d", attempt=2))

    everything = await store.read("wf.p.1")
    assert [(r.attempt, r.task, r.line) for r in everything] == [
        (1, "build", "a"),
        (1, "build", "b"),
        (1, "test", "c"),
        (2, "build", "d"),
    ]
    assert [r.line for r in await store.read("wf.p.1", task="test")] == ["c"]
    assert [r.line for r in await store.read("wf.p.1", step="compile", attempt=2)] == ["d"]
    assert await store.read("wf.p.9") == []


async def test_a_step_over_its_cap_ends_with_one_visible_marker(tmp_path: Path) -> None:
    store = FileLogStore(tmp_path, max_bytes_per_step=1024)
    await store.append("wf.p.1", 1, "t", "s", lines("t", "s", *["x" * 300] * 3))
    await store.append("wf.p.1", 1, "t", "s", lines("t", "s", "x" * 300, "more"))
    await store.append("wf.p.1", 1, "t", "other", lines("t", "other", "fine"))

    step = await store.read("wf.p.1", task="t", step="s")
    assert [r.stream for r in step] == ["stdout"] * 3 + [MARKER_STREAM]
    assert step[-1].line.startswith("[output truncated:")
    assert [r.line for r in await store.read("wf.p.1", step="other")] == ["fine"]

    # The cap holds across a restart of the server (a fresh store on the same files).
    again = FileLogStore(tmp_path, max_bytes_per_step=1024)
    await again.append("wf.p.1", 1, "t", "s", lines("t", "s", "late"))
    assert len(await again.read("wf.p.1", step="s")) == 4


async def test_output_the_agent_dropped_is_marked(tmp_path: Path) -> None:
    store = FileLogStore(tmp_path)
    await store.append("wf.p.1", 1, "t", "s", lines("t", "s", "last"), truncated=True)
    records = await store.read("wf.p.1")
    assert [r.stream for r in records] == ["stdout", MARKER_STREAM]
    assert "dropped" in records[-1].line


async def test_applied_seq_survives_a_restart_and_a_lost_seq_file(tmp_path: Path) -> None:
    store = FileLogStore(tmp_path)
    await store.append("wf.p.1", 1, "t", "s", lines("t", "s", "a"), seq=7)
    await store.append_events("wf.p.1", [{"type": "RunStarted"}], attempt=1, seq=9)
    assert await store.applied_seq("wf.p.1", 1) == 9
    assert await store.applied_seq("wf.p.1", 2) == 0

    (tmp_path / "wf.p.1" / "attempt-1.seq").unlink()
    again = FileLogStore(tmp_path)
    assert await again.applied_seq("wf.p.1", 1) == 9
    assert await again.read_events("wf.p.1") == [{"type": "RunStarted", "attempt": 1}]


async def test_follow_yields_stored_lines_then_new_ones_as_they_arrive(tmp_path: Path) -> None:
    store = FileLogStore(tmp_path)
    await store.append("wf.p.1", 1, "t", "s", lines("t", "s", "first"))
    seen: list[str] = []
    follower = store.follow("wf.p.1", step="s")

    async def consume() -> None:
        async for record in follower:
            seen.append(record.line)
            if len(seen) == 3:
                return

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    assert seen == ["first"]
    await store.append("wf.p.1", 1, "t", "s", lines("t", "s", "second"))
    await store.append("wf.p.1", 1, "t", "elsewhere", lines("t", "elsewhere", "no"))
    await store.append("wf.p.1", 2, "t", "s", lines("t", "s", "third", attempt=2))
    await asyncio.wait_for(task, 2.0)
    assert seen == ["first", "second", "third"]


async def test_delete_forgets_the_run_and_bad_names_are_refused(tmp_path: Path) -> None:
    store = FileLogStore(tmp_path)
    await store.append("wf.p.1", 1, "t", "s", lines("t", "s", "a"), seq=3)
    await store.delete("wf.p.1")
    assert await store.read("wf.p.1") == []
    assert await store.applied_seq("wf.p.1", 1) == 0
    assert not (tmp_path / "wf.p.1").exists()
    for bad in ("..", "../x", "a/b", ""):
        with pytest.raises(Invalid):
            await store.read(bad)
