"""Turns a step's raw output chunks into log lines, with a cap on how much one step may write."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from xene.engine.events import OutputStream

DEFAULT_OUTPUT_LIMIT = 1024 * 1024
# A "line" longer than this is cut into pieces so one newline-free stream can't grow memory.
MAX_LINE_BYTES = 64 * 1024

LineSink = Callable[[OutputStream, str], Awaitable[None]]


def describe_size(size: int) -> str:
    """`1 MiB`, `64 KiB` or `1500 bytes`."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


def truncation_marker(limit: int) -> str:
    """The one line shown where a step's output was cut off."""
    return (
        f"[xene] output truncated: this step wrote more than {describe_size(limit)}; "
        "the rest of its output is dropped"
    )


class StepOutput:
    """Splits each stream into lines and hands them on until `limit` bytes, then drops the rest.

    Bytes are decoded with errors="replace" only after splitting on b"\\n", so multi-byte
    characters are never torn apart and binary output yields replacement characters, not errors.
    """

    def __init__(
        self,
        sink: LineSink,
        limit: int = DEFAULT_OUTPUT_LIMIT,
        max_line: int = MAX_LINE_BYTES,
    ) -> None:
        self._sink = sink
        self._limit = limit
        self._max_line = max_line
        self._pending: dict[OutputStream, bytearray] = {
            "stdout": bytearray(),
            "stderr": bytearray(),
        }
        self._written = 0
        self._truncated = False

    @property
    def truncated(self) -> bool:
        """Whether the cap was reached."""
        return self._truncated

    async def feed(self, stream: OutputStream, data: bytes) -> None:
        """Take a chunk of `stream` as it arrives; complete lines go to the sink at once."""
        if self._truncated or not data:
            return
        buffer = self._pending[stream]
        buffer.extend(data)
        while not self._truncated:
            end = buffer.find(b"\n")
            if end < 0:
                if len(buffer) < self._max_line:
                    break
                end = self._max_line
                piece = bytes(buffer[:end])
                del buffer[:end]
            else:
                piece = bytes(buffer[:end])
                del buffer[: end + 1]
            await self._emit(stream, piece)

    async def flush(self) -> None:
        """Emit what is left of unterminated lines (call once the step has ended)."""
        for stream, buffer in self._pending.items():
            if buffer and not self._truncated:
                piece = bytes(buffer)
                buffer.clear()
                await self._emit(stream, piece)

    async def _emit(self, stream: OutputStream, piece: bytes) -> None:
        size = len(piece) + 1
        if self._written + size > self._limit:
            self._truncated = True
            for buffer in self._pending.values():
                buffer.clear()
            await self._sink(stream, truncation_marker(self._limit))
            return
        self._written += size
        if piece.endswith(b"\r"):
            piece = piece[:-1]
        await self._sink(stream, piece.decode("utf-8", errors="replace"))
