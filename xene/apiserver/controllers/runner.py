"""Drives one controller: keys from its sources into a work queue, reconciles, retries.

Watched kinds come from the process's shared informers: their handlers only queue keys, the
workers reconcile them (a controller reads the caches, so a reconcile with nothing to do costs
no etcd round trip), and a periodic resync queues every cached key again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from xene.api.errors import Conflict, XeneError
from xene.apiserver.controllers.base import Controller, WatchSource
from xene.apiserver.controllers.workqueue import WorkQueue
from xene.backoff import Backoff
from xene.store.informer import Change
from xene.store.shared_informers import SharedInformers

log = logging.getLogger(__name__)


class ControllerRunner:
    """Feeds a controller's queue from its sources and works it off until cancelled."""

    def __init__(
        self,
        controller: Controller,
        informers: SharedInformers,
        *,
        retry_backoff: Backoff | None = None,
    ) -> None:
        self.controller = controller
        self.informers = informers
        self.queue = WorkQueue(retry_backoff or Backoff(0.2, 30.0))

    async def run(self) -> None:
        """Run until cancelled; every child task is cancelled and awaited with it."""
        watched = [s for s in self.controller.sources if isinstance(s, WatchSource)]
        try:
            with contextlib.ExitStack() as listening:
                for watch in watched:
                    informer = self.informers.kind(watch.kind)
                    listening.enter_context(informer.listening(self._handler(watch)))
                async with asyncio.TaskGroup() as group:
                    for source in self.controller.sources:
                        if not isinstance(source, WatchSource):
                            group.create_task(source.feed(self.queue.add))
                    group.create_task(self._resync(watched))
                    for _ in range(self.controller.workers):
                        group.create_task(self._work())
        finally:
            self.queue.close()

    def _handler(self, source: WatchSource) -> Callable[[Change[Any]], None]:
        def enqueue(change: Change[Any]) -> None:
            if source.wants is not None and not source.wants(change):
                return
            for key in source.keys_of(change.value):
                self.queue.add(key)

        return enqueue

    async def _resync(self, watched: list[WatchSource]) -> None:
        # Everything once the caches are listed; then now and then, which catches what no
        # change expresses (time passing) from the caches, without reading etcd.
        while True:
            for source in watched:
                informer = self.informers.kind(source.kind)
                await informer.wait_synced()
                for obj in informer.values():
                    for key in source.keys_of(obj):
                        self.queue.add(key)
            await asyncio.sleep(self.controller.resync_seconds)

    async def _work(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                await self.controller.reconcile(key)
                self.queue.forget(key)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failed(key, exc)
            finally:
                self.queue.done(key)

    def _failed(self, key: str, exc: Exception) -> None:
        delay = self.queue.retry(key)
        name, attempt = self.controller.name, self.queue.failures(key)
        if isinstance(exc, Conflict):
            # A cache behind a concurrent write: retried once it has caught up.
            log.debug("%s: reconcile %r raced a write (%s); again in %.1fs", name, key, exc, delay)
            return
        level = logging.WARNING if isinstance(exc, XeneError) else logging.ERROR
        log.log(
            level,
            "%s: reconcile %r failed (attempt %d), retrying in %.1fs: %s",
            name,
            key,
            attempt,
            delay,
            exc,
            exc_info=not isinstance(exc, XeneError),
        )
