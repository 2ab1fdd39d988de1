"""Splitting step output into lines, and the per-step cap."""

from __future__ import annotations

from xene.engine.events import OutputStream
from xene.engine.output import StepOutput, describe_size


class Lines:
    def __init__(self) -> None:
        self.seen: list[tuple[OutputStream, str]] = []

    async def __call__(self, stream: OutputStream, text: str) -> None:
        self.seen.append((stream, text))


async def test_lines_split_across_chunks_come_out_whole() -> None:
    sink = Lines()
    output = StepOutput(sink)
    await output.feed("stdout", b"hel")
    assert sink.seen == []
    await output.feed("stdout", b"lo\nwor")
    await output.feed("stdout", b"ld\r\nlast")
    assert sink.seen == [("stdout", "hello"), ("stdout", "world")]
    await output.flush()
    assert sink.seen[-1] == ("stdout", "last")


async def test_streams_are_split_independently() -> None:
    sink = Lines()
    output = StepOutput(sink)
    await output.feed("stdout", b"out-")
    await output.feed("stderr", b"err\n")
    await output.feed("stdout", b"done\n")
    assert sink.seen == [("stderr", "err"), ("stdout", "out-done")]


async def test_a_multibyte_character_split_between_chunks_survives() -> None:
    sink = Lines()
    output = StepOutput(sink)
    encoded = "naïve ✓\n".encode()
    await output.feed("stdout", encoded[:3])
    await output.feed("stdout", encoded[3:])
    assert sink.seen == [("stdout", "naïve ✓")]


async def test_invalid_utf8_becomes_replacement_characters() -> None:
    sink = Lines()
    output = StepOutput(sink)
    await output.feed("stdout", b"\xff\xfe\x00bin\n")
    assert sink.seen == [("stdout", "\ufffd\ufffd\x00bin")]


async def test_a_line_without_newline_is_cut_at_the_maximum_line_length() -> None:
    sink = Lines()
    output = StepOutput(sink, max_line=10)
    await output.feed("stdout", b"a" * 25)
    assert sink.seen == [("stdout", "a" * 10), ("stdout", "a" * 10)]
    await output.flush()
    assert sink.seen[-1] == ("stdout", "a" * 5)


async def test_the_cap_emits_one_marker_and_drops_everything_after() -> None:
    sink = Lines()
    output = StepOutput(sink, limit=10)
    await output.feed("stdout", b"1234\n5678\n")
    await output.feed("stderr", b"more\n")
    await output.feed("stdout", b"even more\n")
    await output.flush()
    assert sink.seen[:2] == [("stdout", "1234"), ("stdout", "5678")]
    assert len(sink.seen) == 3
    stream, marker = sink.seen[2]
    assert stream == "stderr" and marker.startswith("[xene] output truncated")
    assert "10 bytes" in marker
    assert output.truncated


def test_sizes_are_described_in_binary_units() -> None:
    assert describe_size(1024 * 1024) == "1 MiB"
    assert describe_size(64 * 1024) == "64 KiB"
    assert describe_size(1500) == "1500 bytes"
