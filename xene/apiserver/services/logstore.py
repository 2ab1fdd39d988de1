"""Where runs' output lines and events are kept: outside etcd, behind the LogStore interface.

FileLogStore layout under its root (`{data_dir}/logs` by default), one directory per run:
    {run}/attempt-{n}.jsonl   every output line of attempt n, in arrival order, one JSON object
                              each: {"seq", "task", "step", "stream", "time", "line"}
    {run}/attempt-{n}.seq     the last agent report seq applied for attempt n
    {run}/events.jsonl        the run's events, one JSON object each
Lines carry the seq of the report that brought them, so the last applied seq can be recovered
from the files themselves after a crash between writing lines and writing the .seq file.
Each step's output is capped (`max_bytes_per_step`); what is dropped is replaced by one marker
record with stream "xene".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from xene.api.errors import FieldError, Invalid

log = logging.getLogger(__name__)

MARKER_STREAM = "xene"
DEFAULT_MAX_BYTES_PER_STEP = 1 << 20
FOLLOW_POLL_SECONDS = 1.0
_ATTEMPT_FILE = re.compile(r"^attempt-(\d+)\.jsonl$")


@dataclass(frozen=True)
class LogRecord:
    """One output line of one step of one attempt."""

    task: str
    step: str
    attempt: int
    stream: str
    time: float
    line: str


def truncation_marker(task: str, step: str, attempt: int, time: float, why: str) -> LogRecord:
    """The visible record that stands for output that was dropped."""
    return LogRecord(task, step, attempt, MARKER_STREAM, time, f"[output truncated: {why}]")


class LogStore(Protocol):
    """Output lines and events of runs, with the last applied report seq per attempt."""

    async def append(
        self,
        run: str,
        attempt: int,
        task: str,
        step: str,
        records: list[LogRecord],
        truncated: bool = False,
        *,
        seq: int | None = None,
    ) -> None:
        """Store lines of one step; `truncated`: the sender dropped output after them."""
        ...

    async def read(
        self,
        run: str,
        *,
        task: str | None = None,
        step: str | None = None,
        attempt: int | None = None,
    ) -> list[LogRecord]:
        """Stored lines, attempts in order, each attempt's in arrival order."""
        ...

    def follow(
        self,
        run: str,
        *,
        task: str | None = None,
        step: str | None = None,
        attempt: int | None = None,
    ) -> AsyncIterator[LogRecord]:
        """Stored lines, then new ones as they arrive, until the caller stops iterating."""
        ...

    async def append_events(
        self,
        run: str,
        events: list[dict[str, Any]],
        *,
        attempt: int | None = None,
        seq: int | None = None,
    ) -> None:
        """Store events of a run (with `seq`: also the report seq of attempt that had them)."""
        ...

    async def read_events(self, run: str) -> list[dict[str, Any]]:
        """Every stored event of a run, in order."""
        ...

    async def applied_seq(self, run: str, attempt: int) -> int:
        """The last report seq applied for (run, attempt); 0 when none."""
        ...

    async def mark_applied(self, run: str, attempt: int, seq: int) -> None:
        """Record that the report `seq` of (run, attempt) is stored."""
        ...

    async def delete(self, run: str) -> None:
        """Forget everything of a run."""
        ...


def check_run_name(run: str) -> None:
    """Raise Invalid unless `run` is safe as one directory name."""
    if not run or "/" in run or "\\" in run or run.startswith(".") or "\0" in run:
        raise Invalid([FieldError("run", f"'{run}' is not a run name")])


@dataclass
class _AttemptState:
    """What the store knows of one attempt's file without reading it again."""

    seq: int = 0
    step_bytes: dict[tuple[str, str], int] = field(default_factory=dict)
    truncated: set[tuple[str, str]] = field(default_factory=set)


def _record_from(data: dict[str, Any], attempt: int) -> LogRecord:
    return LogRecord(
        task=str(data.get("task", "")),
        step=str(data.get("step", "")),
        attempt=attempt,
        stream=str(data.get("stream", "stdout")),
        time=float(data.get("time", 0.0)),
        line=str(data.get("line", "")),
    )


def _matches(record: LogRecord, task: str | None, step: str | None) -> bool:
    return (task is None or record.task == task) and (step is None or record.step == step)


class FileLogStore:
    """LogStore on the local filesystem; survives restarts of the process."""

    def __init__(self, root: Path, *, max_bytes_per_step: int = DEFAULT_MAX_BYTES_PER_STEP) -> None:
        self.root = root
        self.max_bytes_per_step = max_bytes_per_step
        self._attempts: dict[tuple[str, int], _AttemptState] = {}
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"FileLogStore({str(self.root)!r})"

    # -- paths ----------------------------------------------------------------------------

    def run_dir(self, run: str) -> Path:
        """The directory of one run."""
        check_run_name(run)
        return self.root / run

    def _attempt_file(self, run: str, attempt: int) -> Path:
        return self.run_dir(run) / f"attempt-{attempt}.jsonl"

    def _seq_file(self, run: str, attempt: int) -> Path:
        return self.run_dir(run) / f"attempt-{attempt}.seq"

    def _events_file(self, run: str) -> Path:
        return self.run_dir(run) / "events.jsonl"

    def _attempt_numbers(self, run: str) -> list[int]:
        directory = self.run_dir(run)
        if not directory.is_dir():
            return []
        numbers = []
        for entry in directory.iterdir():
            match = _ATTEMPT_FILE.match(entry.name)
            if match:
                numbers.append(int(match.group(1)))
        return sorted(numbers)

    # -- state ----------------------------------------------------------------------------

    def _state(self, run: str, attempt: int) -> _AttemptState:
        state = self._attempts.get((run, attempt))
        if state is not None:
            return state
        state = _AttemptState()
        with contextlib.suppress(OSError, ValueError):
            state.seq = int(self._seq_file(run, attempt).read_text().strip() or 0)
        for data in self._lines(self._attempt_file(run, attempt)):
            key = (str(data.get("task", "")), str(data.get("step", "")))
            state.seq = max(state.seq, int(data.get("seq") or 0))
            if data.get("stream") == MARKER_STREAM:
                state.truncated.add(key)
            else:
                state.step_bytes[key] = state.step_bytes.get(key, 0) + len(
                    str(data.get("line", "")).encode()
                )
        for data in self._lines(self._events_file(run)):
            if data.get("attempt") == attempt:
                state.seq = max(state.seq, int(data.get("seq") or 0))
        self._attempts[(run, attempt)] = state
        return state

    @staticmethod
    def _lines(path: Path) -> Iterator[dict[str, Any]]:
        try:
            handle = path.open("rb")
        except OSError:
            return
        with handle:
            for raw in handle:
                if not raw.endswith(b"\n"):
                    break  # a line cut short by a crash
                try:
                    data = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(data, dict):
                    yield data

    def _lock(self, run: str) -> asyncio.Lock:
        # Writes run in a thread (fsync may be slow); one at a time per run keeps lines whole
        # and in order.
        lock = self._locks.get(run)
        if lock is None:
            lock = self._locks[run] = asyncio.Lock()
        return lock

    def _notify(self, run: str) -> None:
        for event in self._waiters.get(run, ()):
            event.set()

    @staticmethod
    def _write(path: Path, rows: list[dict[str, Any]]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = b"".join(
            json.dumps(row, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
            for row in rows
        )
        with path.open("ab") as handle:
            handle.write(data)
            handle.flush()
            # Reports are acknowledged after this returns: the agent then forgets them.
            os.fsync(handle.fileno())

    # -- writes ---------------------------------------------------------------------------

    async def append(
        self,
        run: str,
        attempt: int,
        task: str,
        step: str,
        records: list[LogRecord],
        truncated: bool = False,
        *,
        seq: int | None = None,
    ) -> None:
        """Store lines of one step, capped per step; `truncated`: the sender dropped more."""
        state = self._state(run, attempt)
        key = (task, step)
        rows: list[dict[str, Any]] = []
        last_time = records[-1].time if records else 0.0
        for record in records:
            if key in state.truncated:
                break
            size = len(record.line.encode())
            used = state.step_bytes.get(key, 0)
            if used + size > self.max_bytes_per_step:
                rows.append(
                    self._marker_row(
                        task,
                        step,
                        record.time,
                        f"step output exceeded {self.max_bytes_per_step} bytes",
                        seq,
                    )
                )
                state.truncated.add(key)
                break
            state.step_bytes[key] = used + size
            rows.append(
                {
                    "seq": seq,
                    "task": task,
                    "step": step,
                    "stream": record.stream,
                    "time": record.time,
                    "line": record.line,
                }
            )
        if truncated and key not in state.truncated:
            rows.append(
                self._marker_row(
                    task, step, last_time, "the agent dropped the rest of the step's output", seq
                )
            )
            state.truncated.add(key)
        if not rows and seq is None:
            return
        if not rows:
            # Nothing to keep (all dropped), but the seq still counts as applied.
            await self.mark_applied(run, attempt, seq or 0)
            return
        async with self._lock(run):
            await asyncio.to_thread(self._write, self._attempt_file(run, attempt), rows)
        if seq is not None:
            state.seq = max(state.seq, seq)
            self._write_seq(run, attempt, state.seq)
        self._notify(run)

    @staticmethod
    def _marker_row(task: str, step: str, time: float, why: str, seq: int | None) -> dict[str, Any]:
        marker = truncation_marker(task, step, 0, time, why)
        return {
            "seq": seq,
            "task": task,
            "step": step,
            "stream": marker.stream,
            "time": time,
            "line": marker.line,
        }

    def _write_seq(self, run: str, attempt: int, seq: int) -> None:
        path = self._seq_file(run, attempt)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".seq.tmp")
        temporary.write_text(str(seq))
        os.replace(temporary, path)

    async def append_events(
        self,
        run: str,
        events: list[dict[str, Any]],
        *,
        attempt: int | None = None,
        seq: int | None = None,
    ) -> None:
        """Store events of a run; with `seq` and `attempt`, mark that report applied."""
        if events:
            rows = []
            for event in events:
                row = dict(event)
                if attempt is not None:
                    row.setdefault("attempt", attempt)
                if seq is not None:
                    row["seq"] = seq
                rows.append(row)
            async with self._lock(run):
                await asyncio.to_thread(self._write, self._events_file(run), rows)
        if attempt is not None and seq is not None:
            await self.mark_applied(run, attempt, seq)
        self._notify(run)

    async def mark_applied(self, run: str, attempt: int, seq: int) -> None:
        """Record that report `seq` of (run, attempt) is stored."""
        state = self._state(run, attempt)
        if seq > state.seq:
            state.seq = seq
            self._write_seq(run, attempt, seq)

    async def delete(self, run: str) -> None:
        """Remove the run's directory."""
        directory = self.run_dir(run)
        for key in [k for k in self._attempts if k[0] == run]:
            del self._attempts[key]
        self._locks.pop(run, None)
        await asyncio.to_thread(shutil.rmtree, directory, True)

    # -- reads ----------------------------------------------------------------------------

    async def applied_seq(self, run: str, attempt: int) -> int:
        """The last report seq applied for (run, attempt); 0 when none."""
        return self._state(run, attempt).seq

    async def read(
        self,
        run: str,
        *,
        task: str | None = None,
        step: str | None = None,
        attempt: int | None = None,
    ) -> list[LogRecord]:
        """Stored lines of the run (optionally of one task, step, attempt), in order."""
        numbers = [attempt] if attempt is not None else self._attempt_numbers(run)
        records: list[LogRecord] = []
        for number in numbers:
            for data in self._lines(self._attempt_file(run, number)):
                record = _record_from(data, number)
                if _matches(record, task, step):
                    records.append(record)
        return records

    async def read_events(self, run: str) -> list[dict[str, Any]]:
        """Every stored event of the run, in order, without the internal seq field."""
        events = []
        for data in self._lines(self._events_file(run)):
            data.pop("seq", None)
            events.append(data)
        return events

    async def follow(
        self,
        run: str,
        *,
        task: str | None = None,
        step: str | None = None,
        attempt: int | None = None,
    ) -> AsyncIterator[LogRecord]:
        """Stored lines, then each new one as it is appended; runs until the caller stops."""
        check_run_name(run)
        offsets: dict[int, int] = {}
        wake = asyncio.Event()
        self._waiters.setdefault(run, set()).add(wake)
        try:
            while True:
                wake.clear()
                numbers = [attempt] if attempt is not None else self._attempt_numbers(run)
                for number in numbers:
                    rows, offsets[number] = self._read_from(
                        self._attempt_file(run, number), offsets.get(number, 0)
                    )
                    for data in rows:
                        record = _record_from(data, number)
                        if _matches(record, task, step):
                            yield record
                # The poll also catches files written by another process.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), FOLLOW_POLL_SECONDS)
        finally:
            waiters = self._waiters.get(run)
            if waiters is not None:
                waiters.discard(wake)
                if not waiters:
                    del self._waiters[run]

    @staticmethod
    def _read_from(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
        """Complete lines after byte `offset`, and the offset after the last of them."""
        try:
            with path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except OSError:
            return [], offset
        end = data.rfind(b"\n")
        if end < 0:
            return [], offset
        rows: list[dict[str, Any]] = []
        for raw in data[: end + 1].splitlines():
            try:
                row = json.loads(raw)
            except ValueError:
                continue
            if isinstance(row, dict):
                rows.append(row)
        return rows, offset + end + 1
