"""Run reports on their way to the server: numbered, kept until acknowledged, kept on disk.

Every report (RunUpdate, LogChunk) gets the next number of one agent-wide sequence and stays in
the outbox until the server answers with a ReportAck for it; after a reconnect the connection
sends everything unacknowledged again, in order, and the server drops what it already stored.

Reports (the dataclasses of `xene.agent.contract`) are kept encoded by the connection's
ReportCodec, in the form they are sent in. They are written through to segment files under
`directory` as they are added (not fsynced: the page cache survives a killed agent process), so
an agent that is restarted still delivers the reports of runs that finished before it went
down. In memory the outbox holds at most `memory_limit` bytes of reports; older ones are read
back from their segment when sent. On
disk it holds at most `disk_limit` bytes: past that, new log output is dropped (and counted),
while run status updates are always kept, since losing one would lose a run's result.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import logging
import os
import struct
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from xene.agent.contract import LogChunk, Report, ReportCodec, RunUpdate

log = logging.getLogger(__name__)

DEFAULT_MEMORY_LIMIT = 16 * 1024 * 1024
DEFAULT_DISK_LIMIT = 512 * 1024 * 1024
DEFAULT_SEGMENT_BYTES = 1024 * 1024
# Seqs are reserved on disk in blocks, so numbers keep growing across restarts of the agent
# without a write per report: a restarted agent continues after the reserved block.
SEQ_BLOCK = 10_000
_HEADER = struct.Struct(">I")
_SEGMENT_SUFFIX = ".seg"
_SEQ_FILE = "next-seq"


@dataclass(frozen=True, slots=True)
class EncodedReport:
    """A queued report as it goes out: its seq and its bytes (ReportCodec.decode reads them)."""

    seq: int
    data: bytes


@dataclass(eq=False)
class _Segment:
    """One file of reports in the order they were added."""

    path: Path
    live: int = 0
    total: int = 0
    size: int = 0
    handle: BinaryIO | None = None

    def close(self) -> None:
        if self.handle is not None:
            with contextlib.suppress(OSError):
                self.handle.close()
            self.handle = None


@dataclass(eq=False)
class _Entry:
    seq: int
    run: str
    attempt: int
    final: bool
    size: int
    # None once evicted from memory: read back from `segment` at `offset` when sent.
    data: bytes | None
    segment: _Segment | None = None
    offset: int = 0


@dataclass
class OutboxStats:
    """What the outbox holds and what it had to drop."""

    pending: int = 0
    pending_bytes: int = 0
    in_memory_bytes: int = 0
    dropped_log_chunks: int = 0
    dropped_by_run: dict[str, int] = field(default_factory=dict)


class Outbox:
    """Unacknowledged run reports in seq order; `directory=None` keeps them in memory only.

    `codec` encodes reports for sending and for the segment files (the connection's).
    """

    def __init__(
        self,
        directory: Path | None = None,
        *,
        codec: ReportCodec,
        memory_limit: int = DEFAULT_MEMORY_LIMIT,
        disk_limit: int = DEFAULT_DISK_LIMIT,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
    ) -> None:
        self.directory = directory
        self._codec = codec
        self._memory_limit = memory_limit
        self._disk_limit = disk_limit
        self._segment_bytes = segment_bytes
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        # Seqs in order, acknowledged ones removed lazily: `after` finds its start by bisection
        # instead of walking everything a long outage piled up.
        self._order: list[int] = []
        self._next_seq = 1
        self._reserved_until = 0
        self._segment: _Segment | None = None
        self._bytes = 0
        self._memory = 0
        self._dropped = 0
        self._dropped_by_run: dict[str, int] = {}
        self._changed = asyncio.Event()
        self._opened = False

    # -- life cycle -----------------------------------------------------------------------

    def open(self) -> None:
        """Load the reports a previous agent process left unacknowledged (call once, first)."""
        if self._opened:
            return
        self._opened = True
        if self.directory is None or not self.directory.is_dir():
            return  # created with the first report
        highest = 0
        for path in sorted(self.directory.glob(f"*{_SEGMENT_SUFFIX}")):
            segment = _Segment(path)
            for offset, data in self._read_segment(path):
                try:
                    report = self._codec.decode(data)
                except ValueError as exc:
                    log.error("outbox: %s is damaged at byte %d (%s); skipped", path, offset, exc)
                    continue
                seq = report.seq
                if seq <= highest:
                    continue  # a duplicate left by an interrupted compaction
                size = len(data)
                entry = _Entry(seq, report.run, report.attempt, report.final, size, data)
                entry.segment, entry.offset = segment, offset
                self._entries[seq] = entry
                self._order.append(seq)
                segment.live += 1
                segment.total += 1
                self._bytes += size
                self._memory += size
                highest = seq
            segment.size = path.stat().st_size
            if segment.live == 0:
                path.unlink(missing_ok=True)
        self._evict()
        self._next_seq = max(highest + 1, self._read_reserved())
        if self._entries:
            log.info(
                "outbox: %d report(s) of an earlier run of this agent wait for the server",
                len(self._entries),
            )

    def close(self) -> None:
        """Close the files, leaving only unacknowledged reports on disk (clean shutdown).

        A killed agent skips this: its segments still hold reports acknowledged meanwhile,
        which the next start sends again and the server ignores.
        """
        if self._segment is not None:
            self._segment.close()
            self._segment = None
        by_segment: dict[_Segment, list[_Entry]] = {}
        for entry in self._entries.values():
            if entry.segment is not None:
                by_segment.setdefault(entry.segment, []).append(entry)
        for segment, entries in by_segment.items():
            try:
                self._compact(segment, entries)
            except OSError as exc:
                log.warning("outbox: could not compact %s: %s", segment.path, exc)

    def _compact(self, segment: _Segment, entries: list[_Entry]) -> None:
        if segment.live == segment.total:
            with open(segment.path, "rb+") as handle:
                os.fsync(handle.fileno())
            return
        temporary = segment.path.with_suffix(".tmp")
        with open(temporary, "wb") as handle:
            offsets = []
            for entry in entries:
                data = entry.data if entry.data is not None else self._load(entry)
                if data is None:
                    continue
                offsets.append((entry, handle.tell()))
                handle.write(_HEADER.pack(len(data)) + data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, segment.path)
        for entry, offset in offsets:
            entry.offset = offset
        segment.total = segment.live = len(offsets)

    # -- adding and acknowledging ---------------------------------------------------------

    def add_run_update(
        self, run: str, attempt: int, status_json: bytes, events_json: bytes = b"[]"
    ) -> int:
        """Queue a RunUpdate; returns its seq."""
        seq = self._take_seq()
        self._add(RunUpdate(run, attempt, seq, status_json, events_json))
        return seq

    def add_log_chunk(
        self,
        run: str,
        attempt: int,
        task: str,
        step: str,
        streams: list[str],
        lines: list[str],
        times: list[float],
        truncated: bool = False,
    ) -> int | None:
        """Queue a LogChunk; returns its seq, or None when the outbox is full and it was dropped."""
        size = sum(len(line) for line in lines) + 64
        if self._bytes + size > self._disk_limit:
            self._dropped += 1
            self._dropped_by_run[run] = self._dropped_by_run.get(run, 0) + 1
            if self._dropped_by_run[run] == 1:
                log.warning(
                    "outbox full (%d bytes unacknowledged): dropping output of run %s until the "
                    "server catches up",
                    self._bytes,
                    run,
                )
            return None
        seq = self._take_seq()
        self._add(LogChunk(run, attempt, seq, task, step, streams, lines, times, truncated))
        return seq

    def ack(self, seqs: Iterable[int]) -> None:
        """The server stored these reports: forget them (unknown seqs are ignored)."""
        changed = False
        for seq in seqs:
            entry = self._entries.pop(seq, None)
            if entry is None:
                continue
            changed = True
            self._bytes -= entry.size
            if entry.data is not None:
                self._memory -= entry.size
            segment = entry.segment
            if segment is not None:
                segment.live -= 1
                if segment.live == 0:
                    self._drop_segment(segment)
        if changed:
            if len(self._order) > 2 * len(self._entries) + 1024:
                self._order = [seq for seq in self._order if seq in self._entries]
            self._changed.set()

    # -- reading --------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def next_seq(self) -> int:
        """The seq the next report gets."""
        return self._next_seq

    def stats(self) -> OutboxStats:
        """Counts for logs and tests."""
        return OutboxStats(
            pending=len(self._entries),
            pending_bytes=self._bytes,
            in_memory_bytes=self._memory,
            dropped_log_chunks=self._dropped,
            dropped_by_run=dict(self._dropped_by_run),
        )

    def pending_seqs(self) -> list[int]:
        """Seqs of every unacknowledged report, in order."""
        return list(self._entries)

    def unacked_through(self, seq: int) -> int:
        """How many unacknowledged reports have a seq up to `seq`."""
        count = 0
        for pending in self._entries:
            if pending > seq:
                break
            count += 1
        return count

    def after(self, seq: int, limit: int) -> list[EncodedReport]:
        """Up to `limit` unacknowledged reports with a seq above `seq`, in order."""
        found: list[EncodedReport] = []
        if limit <= 0:
            return found
        for pending in itertools.islice(self._order, bisect.bisect_right(self._order, seq), None):
            entry = self._entries.get(pending)
            if entry is None:
                continue
            data = entry.data if entry.data is not None else self._load(entry)
            if data is not None:
                found.append(EncodedReport(pending, data))
            if len(found) >= limit:
                break
        return found

    def attempts_awaiting_result(self) -> list[tuple[str, int]]:
        """Run attempts whose final status is not acknowledged yet (to list in Hello.runs, so
        the server waits for that result instead of declaring the attempt lost)."""
        return sorted({(e.run, e.attempt) for e in self._entries.values() if e.final})

    async def wait_changed(self) -> None:
        """Return after the next add or ack."""
        self._changed.clear()
        await self._changed.wait()

    async def wait_empty(self, seconds: float) -> bool:
        """Wait until every report is acknowledged; False after `seconds`."""
        try:
            async with asyncio.timeout(seconds):
                while self._entries:
                    await self.wait_changed()
        except TimeoutError:
            return False
        return True

    # -- internals ------------------------------------------------------------------------

    def _take_seq(self) -> int:
        seq = self._next_seq
        self._next_seq += 1
        if self.directory is not None and seq >= self._reserved_until:
            self._reserve(seq + SEQ_BLOCK)
        return seq

    def _read_reserved(self) -> int:
        if self.directory is None:
            return 1
        try:
            return int((self.directory / _SEQ_FILE).read_text().strip() or 1)
        except (OSError, ValueError):
            return 1

    def _reserve(self, until: int) -> None:
        assert self.directory is not None
        path = self.directory / _SEQ_FILE
        temporary = path.with_suffix(".tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            temporary.write_text(str(until))
            os.replace(temporary, path)
            self._reserved_until = until
        except OSError as exc:
            log.warning("outbox: could not record the report sequence in %s: %s", path, exc)

    def _add(self, report: Report) -> None:
        data = self._codec.encode(report)
        size = len(data)
        entry = _Entry(report.seq, report.run, report.attempt, report.final, size, data)
        self._write(entry)
        self._entries[report.seq] = entry
        self._order.append(report.seq)
        self._bytes += size
        self._memory += size
        self._evict()
        self._changed.set()

    def _write(self, entry: _Entry) -> None:
        data = entry.data
        if self.directory is None or data is None:
            return
        try:
            segment = self._current_segment()
            handle = segment.handle
            assert handle is not None
            offset = segment.size
            handle.write(_HEADER.pack(len(data)) + data)
            handle.flush()  # into the page cache: survives the agent process being killed
        except OSError as exc:
            log.warning("outbox: could not write report %d to disk: %s", entry.seq, exc)
            return
        segment.size += _HEADER.size + len(data)
        segment.live += 1
        segment.total += 1
        entry.segment = segment
        entry.offset = offset
        if segment.size >= self._segment_bytes:
            segment.close()
            self._segment = None

    def _current_segment(self) -> _Segment:
        if self._segment is None or self._segment.handle is None:
            assert self.directory is not None
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{self._next_seq:020d}{_SEGMENT_SUFFIX}"
            segment = _Segment(path)
            segment.handle = open(path, "ab")  # kept open across calls
            segment.size = segment.handle.tell()
            self._segment = segment
        return self._segment

    def _drop_segment(self, segment: _Segment) -> None:
        segment.close()
        if self._segment is segment:
            self._segment = None
        try:
            segment.path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("outbox: could not remove %s: %s", segment.path, exc)

    def _evict(self) -> None:
        """Keep memory under the limit: the oldest messages stay on disk only."""
        if self._memory <= self._memory_limit:
            return
        for entry in self._entries.values():
            if self._memory <= self._memory_limit:
                break
            if entry.data is not None and entry.segment is not None:
                entry.data = None
                self._memory -= entry.size

    def _load(self, entry: _Entry) -> bytes | None:
        segment = entry.segment
        if segment is None:
            return None
        try:
            with open(segment.path, "rb") as handle:
                handle.seek(entry.offset)
                (length,) = _HEADER.unpack(handle.read(_HEADER.size))
                data = handle.read(length)
            if len(data) != length:
                raise OSError(f"{length - len(data)} bytes missing")
        except (OSError, struct.error) as exc:
            log.error("outbox: report %d is lost: cannot read it back: %s", entry.seq, exc)
            return None
        return data

    @staticmethod
    def _read_segment(path: Path) -> Iterable[tuple[int, bytes]]:
        try:
            data = path.read_bytes()
        except OSError as exc:
            log.error("outbox: cannot read %s: %s", path, exc)
            return
        offset = 0
        while offset + _HEADER.size <= len(data):
            (length,) = _HEADER.unpack_from(data, offset)
            start = offset + _HEADER.size
            if start + length > len(data):
                break  # cut short by a crash while writing: the rest was never acknowledged
            yield offset, data[start : start + length]
            offset = start + length
