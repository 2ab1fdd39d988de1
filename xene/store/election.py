"""Leader election on one etcd key held with a lease: whoever created the key leads."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from xene.api.errors import Unavailable
from xene.backoff import Backoff
from xene.store.informer import Informer
from xene.store.keys import KeyLayout
from xene.store.kv import Compare, Get, KeyValue, KeyValueStore, Put, RangeResult
from xene.store.leases import Lease
from xene.store.sources import KeyRange

log = logging.getLogger(__name__)


class Election:
    """One contender in the election `name`; at most one contender leads at a time.

    The election lives at `{prefix}/elections/{name}`, or at `name` itself when that is an
    absolute etcd key (starts with '/').

    `campaign()` returns once this process leads; `leader_lost` is set when the lead ends
    (lease lost, key deleted, `resign()`). Work that needs the lead must stop when it is set.
    As a context manager it campaigns on entry and resigns on exit.
    """

    def __init__(
        self,
        client: KeyValueStore,
        name: str,
        identity: str,
        ttl: int = 10,
        *,
        prefix: str = "/xene",
    ) -> None:
        if not identity:
            raise ValueError("an election identity must not be empty")
        self.client = client
        self.name = name
        self.identity = identity
        self.ttl = ttl
        self.key = KeyLayout(prefix).election(name)
        self.leader_lost = asyncio.Event()
        self._lease: Lease | None = None
        self._revision = 0  # create_revision of the key while this contender leads
        self._monitor: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"Election({self.key!r}, identity={self.identity!r}, leader={self.is_leader})"

    @property
    def is_leader(self) -> bool:
        """True while this contender holds the lead."""
        return self._lease is not None and not self.leader_lost.is_set()

    async def __aenter__(self) -> Election:
        await self.campaign()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.resign()

    async def leader(self) -> str | None:
        """The identity of the current leader, or None when nobody leads."""
        kv = await self.client.get(self.key)
        return kv.value.decode(errors="replace") if kv is not None else None

    async def campaign(self) -> None:
        """Wait until this contender leads; rides out etcd outages with retries."""
        if self.is_leader:
            return
        if self._lease is not None:
            await self.resign()  # clean up after a lead that was lost
        backoff = Backoff(0.2, 2.0)
        while True:
            try:
                if await self._try_to_lead():
                    return
                backoff.reset()
            except Unavailable as exc:
                delay = backoff.next_delay()
                log.warning("election %s: %s; retrying in %.1fs", self.name, exc, delay)
                await asyncio.sleep(delay)

    async def _try_to_lead(self) -> bool:
        """Lead if the key is free; else wait until it is deleted. True when leading."""
        lease = Lease(self.client, self.ttl)
        await lease.start()
        leading = False
        try:
            result = await self.client.transaction(
                [Compare.missing(self.key)],
                [Put(self.key, self.identity, lease=lease.id)],
                [Get(self.key)],
            )
            if result.succeeded:
                self._take_lead(lease, result.revision)
                leading = True
                return True
        finally:
            if not leading:
                await lease.close()
        found = result.responses[0]
        assert isinstance(found, RangeResult)
        if not found.kvs:
            return False  # deleted in the meantime: try again
        holder = found.kvs[0]
        if holder.value.decode(errors="replace") == self.identity and holder.lease:
            # A previous run of this very process still holds the key until its lease runs
            # out; it is gone, so end its lease now rather than wait a whole TTL.
            log.info("election %s: taking over from an earlier run of %s", self.name, self.identity)
            await self.client.lease_revoke(holder.lease)
            return False
        log.info("election %s: %s leads; waiting", self.name, holder.value.decode(errors="replace"))
        await self._wait_for_holder(lambda kv: kv is None)
        return False

    async def _wait_for_holder(self, done: Callable[[KeyValue | None], bool]) -> None:
        """Return once `done(the key as it is)` holds, following the key with an informer."""
        holder: Informer[KeyValue] = Informer(
            KeyRange(self.client, self.key, _raw, exact=True, description=f"election {self.name}")
        )
        async with asyncio.TaskGroup() as group:
            following = group.create_task(holder.run())
            await holder.wait_until(lambda cache: done(cache.get(self.key)))
            following.cancel()

    def _take_lead(self, lease: Lease, revision: int) -> None:
        self._lease = lease
        self._revision = revision
        self.leader_lost.clear()
        self._monitor = asyncio.create_task(
            self._watch_lead(lease, revision), name=f"election {self.name} monitor"
        )
        log.info("election %s: %s leads now", self.name, self.identity)

    async def _watch_lead(self, lease: Lease, revision: int) -> None:
        lease_lost = asyncio.create_task(lease.lost.wait())
        key_taken = asyncio.create_task(self._key_taken(revision))
        try:
            await asyncio.wait({lease_lost, key_taken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (lease_lost, key_taken):
                task.cancel()
            await asyncio.gather(lease_lost, key_taken, return_exceptions=True)
            if not self.leader_lost.is_set():
                reason = lease.lost_reason if lease.lost.is_set() else "the key was removed"
                log.warning("election %s: %s lost the lead (%s)", self.name, self.identity, reason)
                self.leader_lost.set()

    async def _key_taken(self, revision: int) -> None:
        """Return once the key this contender created is deleted or replaced."""
        await self._wait_for_holder(lambda kv: kv is None or kv.create_revision != revision)

    async def resign(self) -> None:
        """Give up the lead (if held): the key is deleted with the lease."""
        monitor, self._monitor = self._monitor, None
        lease, self._lease = self._lease, None
        self.leader_lost.set()
        if monitor is not None:
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
        if lease is not None:
            await lease.close()
            log.info("election %s: %s resigned", self.name, self.identity)


def _raw(key: str, kv: KeyValue) -> KeyValue:
    return kv
