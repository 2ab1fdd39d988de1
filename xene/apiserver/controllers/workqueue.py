"""The keys a controller still has to reconcile, as client-go's rate-limited work queue keeps them.

A key is held once however often it is added; a key being reconciled is never handed to a
second worker, and one added meanwhile is handed out again when the first is done; a key
whose reconcile failed comes back after a backoff that grows with its failures.
"""

from __future__ import annotations

import asyncio

from xene.backoff import Backoff


class WorkQueue:
    """Keys waiting for a worker; see the module docstring."""

    def __init__(self, retry_backoff: Backoff | None = None) -> None:
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._active: set[str] = set()
        self._dirty: set[str] = set()
        self._failures: dict[str, int] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._backoff = retry_backoff or Backoff(0.2, 30.0)

    def __len__(self) -> int:
        return self._queue.qsize()

    def add(self, key: str) -> None:
        """Queue `key` (once) for a reconcile."""
        if key in self._active:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    async def get(self) -> str:
        """The next key; the caller reconciles it and then calls `done`."""
        key = await self._queue.get()
        self._queued.discard(key)
        self._active.add(key)
        return key

    def done(self, key: str) -> None:
        """The reconcile of `key` is over; it is handed out again if it was added meanwhile."""
        self._active.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def retry(self, key: str) -> float:
        """`key` failed: add it again after a backoff that grows with its failures; the delay."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = self._backoff.delay(failures)
        self.add_after(key, delay)
        return delay

    def forget(self, key: str) -> None:
        """`key` succeeded: its next failure starts from the shortest backoff again."""
        self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        """How many times in a row `key` has failed."""
        return self._failures.get(key, 0)

    def add_after(self, key: str, delay: float) -> None:
        """Add `key` once `delay` seconds have passed (the earliest of several such wins)."""
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        timer = self._timers.get(key)
        if timer is not None:
            if timer.when() <= due:
                return
            timer.cancel()
        self._timers[key] = loop.call_at(due, self._due, key)

    def _due(self, key: str) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def close(self) -> None:
        """Drop every pending retry."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
