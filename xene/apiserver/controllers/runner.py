"""Drives one controller: list, watch from the list's revision, queue keys, reconcile, retry."""

from __future__ import annotations

import asyncio
import logging

from xene.api.errors import Gone, Unavailable, XeneError
from xene.apiserver.controllers.base import Controller, WatchSource
from xene.backoff import Backoff
from xene.store.objects import ObjectStore

log = logging.getLogger(__name__)


class KeyQueue:
    """A work queue that holds each key once and never hands one key to two workers at once."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._active: set[str] = set()
        self._dirty: set[str] = set()

    def add(self, key: str) -> None:
        if key in self._active:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    async def get(self) -> str:
        key = await self._queue.get()
        self._queued.discard(key)
        self._active.add(key)
        return key

    def done(self, key: str) -> None:
        self._active.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def __len__(self) -> int:
        return self._queue.qsize()


class ControllerRunner:
    """Feeds a controller's queue from its watches and works it off until cancelled."""

    def __init__(
        self,
        store: ObjectStore,
        controller: Controller,
        *,
        workers: int = 2,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        self.store = store
        self.controller = controller
        self.queue = KeyQueue()
        self._workers = workers
        self._retry_backoff = Backoff(0.2, max_backoff_seconds)
        self._failures: dict[str, int] = {}
        self._retry_tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Run until cancelled; every child task is cancelled and awaited with it."""
        try:
            async with asyncio.TaskGroup() as group:
                for source in self.controller.sources:
                    if isinstance(source, WatchSource):
                        group.create_task(self._feed(source))
                    else:
                        group.create_task(source.feed(self.queue.add))
                for _ in range(self._workers):
                    group.create_task(self._work())
                group.create_task(self._resync())
        finally:
            for task in self._retry_tasks:
                task.cancel()
            await asyncio.gather(*self._retry_tasks, return_exceptions=True)

    async def _feed(self, source: WatchSource) -> None:
        backoff = Backoff(0.2, 5.0)
        while True:
            try:
                items, revision = await self.store.list(source.kind)
                for item in items:
                    for key in source.keys_of(item):
                        self.queue.add(key)
                backoff.reset()
                async for event in self.store.watch(source.kind, from_revision=revision + 1):
                    for key in source.keys_of(event.object):
                        self.queue.add(key)
            except Gone:
                log.info(
                    "%s: watch of %s expired; listing again",
                    self.controller.name,
                    source.kind.plural,
                )
            except Unavailable as exc:
                delay = backoff.next_delay()
                log.warning("%s: %s; retrying in %.1fs", self.controller.name, exc, delay)
                await asyncio.sleep(delay)

    async def _resync(self) -> None:
        # A periodic full pass catches anything a watch could not express (e.g. time passing).
        while True:
            await asyncio.sleep(self.controller.resync_seconds)
            for source in self.controller.sources:
                if not isinstance(source, WatchSource):
                    continue
                try:
                    items, _ = await self.store.list(source.kind)
                except XeneError as exc:
                    log.warning(
                        "%s: resync of %s failed: %s", self.controller.name, source.kind.plural, exc
                    )
                    continue
                for item in items:
                    for key in source.keys_of(item):
                        self.queue.add(key)

    async def _work(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                await self.controller.reconcile(key)
                self._failures.pop(key, None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures = self._failures.get(key, 0) + 1
                self._failures[key] = failures
                delay = self._retry_backoff.delay(failures - 1)
                level = logging.WARNING if isinstance(exc, XeneError) else logging.ERROR
                log.log(
                    level,
                    "%s: reconcile %r failed (attempt %d), retrying in %.1fs: %s",
                    self.controller.name,
                    key,
                    failures,
                    delay,
                    exc,
                    exc_info=not isinstance(exc, XeneError),
                )
                self._retry_later(key, delay)
            finally:
                self.queue.done(key)

    def _retry_later(self, key: str, delay: float) -> None:
        async def requeue() -> None:
            await asyncio.sleep(delay)
            self.queue.add(key)

        task = asyncio.get_running_loop().create_task(requeue())
        self._retry_tasks.add(task)
        task.add_done_callback(self._retry_tasks.discard)
