"""The outbox keeps run reports in order until acknowledged, on disk across restarts, bounded."""

from __future__ import annotations

import json
from pathlib import Path

from xene.agent.connection import REPORT_CODEC
from xene.agent.contract import LogChunk, RunUpdate
from xene.agent.runs.outbox import EncodedReport, Outbox


def new_outbox(directory: Path | None = None, **limits: int) -> Outbox:
    return Outbox(directory, codec=REPORT_CODEC, **limits)


def lines(report: EncodedReport) -> list[str]:
    decoded = REPORT_CODEC.decode(report.data)
    assert isinstance(decoded, LogChunk)
    return decoded.lines


def status(phase: str) -> bytes:
    return json.dumps({"phase": phase, "tasks": {}}).encode()


def chunk(outbox: Outbox, run: str = "wf.p.1", *lines: str) -> int | None:
    texts = list(lines) or ["hello"]
    return outbox.add_log_chunk(
        run, 1, "t", "s", ["stdout"] * len(texts), texts, [1.0] * len(texts)
    )


def seqs(reports: list[EncodedReport]) -> list[int]:
    return [report.seq for report in reports]


def test_reports_are_numbered_in_order_and_acknowledged_ones_are_forgotten() -> None:
    outbox = new_outbox()
    first = outbox.add_run_update("wf.p.1", 1, status("Running"))
    second = chunk(outbox)
    third = outbox.add_run_update("wf.p.1", 1, status("Succeeded"))
    assert [first, second, third] == [1, 2, 3]
    assert seqs(outbox.after(0, 10)) == [1, 2, 3]
    assert seqs(outbox.after(1, 1)) == [2]

    outbox.ack([2, 99])  # an unknown seq is ignored
    assert outbox.pending_seqs() == [1, 3]
    assert outbox.unacked_through(2) == 1
    outbox.ack([1, 3])
    assert len(outbox) == 0 and outbox.after(0, 10) == []


def test_attempts_whose_result_is_unacknowledged_are_listed() -> None:
    outbox = new_outbox()
    outbox.add_run_update("wf.p.1", 1, status("Running"))
    done = outbox.add_run_update("wf.p.2", 3, status("Failed"))
    assert outbox.attempts_awaiting_result() == [("wf.p.2", 3)]
    outbox.ack([done])
    assert outbox.attempts_awaiting_result() == []


def test_a_restarted_agent_replays_what_was_not_acknowledged(tmp_path: Path) -> None:
    outbox = new_outbox(tmp_path / "outbox", segment_bytes=300)
    outbox.open()
    for number in range(1, 6):
        chunk(outbox, "wf.p.1", f"line {number}")
    final = outbox.add_run_update("wf.p.1", 1, status("Succeeded"), b'[{"type": "RunSucceeded"}]')
    outbox.ack([1, 2])
    expected = outbox.after(0, 100)
    outbox.close()

    again = new_outbox(tmp_path / "outbox", segment_bytes=300)
    again.open()
    assert again.after(0, 100) == expected
    assert again.pending_seqs() == [3, 4, 5, 6]
    assert again.attempts_awaiting_result() == [("wf.p.1", 1)]
    assert again.next_seq > final  # numbers keep growing across restarts
    assert again.add_run_update("wf.p.2", 1, status("Running")) > final

    again.ack(again.pending_seqs())
    again.close()
    assert list((tmp_path / "outbox").glob("*.seg")) == []


def test_a_killed_agent_replays_at_least_everything_unacknowledged(tmp_path: Path) -> None:
    outbox = new_outbox(tmp_path / "outbox")
    outbox.open()
    for number in range(1, 4):
        chunk(outbox, "wf.p.1", f"line {number}")
    outbox.ack([1])
    # No close(): a killed agent does not get to tidy up.

    again = new_outbox(tmp_path / "outbox")
    again.open()
    # The acknowledged report may come again; the server drops it by its seq.
    assert again.pending_seqs()[-2:] == [2, 3]
    assert [lines(m)[0] for m in again.after(1, 10)] == ["line 2", "line 3"]


def test_a_report_cut_short_by_a_crash_is_skipped(tmp_path: Path) -> None:
    outbox = new_outbox(tmp_path / "outbox")
    outbox.open()
    chunk(outbox, "wf.p.1", "complete")
    chunk(outbox, "wf.p.1", "cut short")
    outbox.close()
    (segment,) = (tmp_path / "outbox").glob("*.seg")
    segment.write_bytes(segment.read_bytes()[:-5])

    again = new_outbox(tmp_path / "outbox")
    again.open()
    (message,) = again.after(0, 10)
    assert lines(message) == ["complete"]


def test_reports_beyond_the_memory_limit_are_read_back_from_disk(tmp_path: Path) -> None:
    outbox = new_outbox(tmp_path / "outbox", memory_limit=2_000)
    outbox.open()
    for number in range(50):
        chunk(outbox, "wf.p.1", f"line {number:03} " + "x" * 100)
    stats = outbox.stats()
    assert stats.pending == 50 and stats.in_memory_bytes <= 2_000
    messages = outbox.after(0, 100)
    assert [lines(m)[0][:8] for m in messages] == [f"line {n:03}" for n in range(50)]


def test_a_full_outbox_drops_output_but_keeps_status(tmp_path: Path) -> None:
    outbox = new_outbox(tmp_path / "outbox", disk_limit=1_000)
    outbox.open()
    kept = [chunk(outbox, "wf.p.1", "y" * 200) for _ in range(10)]
    assert None in kept
    assert outbox.add_run_update("wf.p.1", 1, status("Succeeded")) is not None
    stats = outbox.stats()
    assert stats.dropped_log_chunks == kept.count(None)
    assert outbox.attempts_awaiting_result() == [("wf.p.1", 1)]


def test_reports_are_kept_in_the_form_they_are_sent_in() -> None:
    outbox = new_outbox()
    seq = outbox.add_run_update("wf.p.1", 2, status("Failed"), b"[]")
    chunk_seq = outbox.add_log_chunk("wf.p.1", 2, "t", "s", ["stderr"], ["oops"], [1.5], True)
    update, logs = (REPORT_CODEC.decode(report.data) for report in outbox.after(0, 10))
    assert update == RunUpdate("wf.p.1", 2, seq, status("Failed"), b"[]")
    assert update.final
    assert logs == LogChunk(
        "wf.p.1", 2, chunk_seq or 0, "t", "s", ["stderr"], ["oops"], [1.5], True
    )
