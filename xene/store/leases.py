"""An etcd lease kept alive in the background for as long as its owner holds it."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from xene.api.errors import Unavailable, XeneError
from xene.store.kv import KeyValueStore

log = logging.getLogger(__name__)


class Lease:
    """A lease granted on entry, refreshed in a background task, revoked on exit.

    `lost` is set when the lease can no longer be trusted: etcd said it expired, or no
    keepalive got through for a whole TTL. Keys written with it may then be gone.
    """

    def __init__(
        self,
        client: KeyValueStore,
        ttl: int,
        *,
        refresh_interval: float | None = None,
    ) -> None:
        self.client = client
        self.ttl = ttl
        self.refresh_interval = refresh_interval
        self.lost = asyncio.Event()
        self.lost_reason: str | None = None
        self._id: int | None = None
        self._keepalive: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        state = "lost" if self.lost.is_set() else "held" if self._id is not None else "unsent"
        return f"Lease(id={self._id}, ttl={self.ttl}, {state})"

    @property
    def id(self) -> int:
        """The etcd lease id, to attach keys with (`put(..., lease=lease.id)`)."""
        if self._id is None:
            raise RuntimeError("the lease has not been granted yet: use `async with` or start()")
        return self._id

    async def __aenter__(self) -> Lease:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Grant the lease and start keeping it alive."""
        if self._id is not None:
            return
        grant = await self.client.lease_grant(self.ttl)
        self._id = grant.id
        self.ttl = grant.ttl  # etcd raises TTLs below its minimum
        self._keepalive = asyncio.create_task(
            self._keep_alive(), name=f"etcd lease {grant.id:x} keepalive"
        )

    async def close(self, *, revoke: bool = True) -> None:
        """Stop the keepalive and revoke the lease (its keys are deleted with it)."""
        task, self._keepalive = self._keepalive, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if revoke and self._id is not None and not self.lost.is_set():
            try:
                await self.client.lease_revoke(self._id)
            except XeneError as exc:
                # Unrevoked, it still expires after its TTL.
                log.warning("could not revoke etcd lease %x: %s", self._id, exc)
        if not self.lost.is_set():
            self._mark_lost("released")

    def _mark_lost(self, reason: str) -> None:
        self.lost_reason = reason
        self.lost.set()

    async def _keep_alive(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.refresh_interval or max(self.ttl / 3, 0.1)
        # etcd restarts the TTL when it receives a keepalive, so the lease is safe until one
        # TTL after the start of the last keepalive that got an answer.
        expires = loop.time() + self.ttl
        delay = interval
        while True:
            await asyncio.sleep(delay)
            sent = loop.time()
            if sent >= expires:
                self._mark_lost(f"no keepalive got through within the {self.ttl}s TTL")
                log.warning("etcd lease %x lost: %s", self.id, self.lost_reason)
                return
            try:
                async with asyncio.timeout(expires - sent):
                    remaining = await self.client.lease_keepalive(self.id)
            except (Unavailable, TimeoutError) as exc:
                log.info(
                    "keepalive of etcd lease %x failed (%s); retrying", self.id, exc or "timeout"
                )
                delay = min(interval, 0.5)
                continue
            except XeneError as exc:
                self._mark_lost(f"keepalive refused: {exc}")
                log.warning("etcd lease %x lost: %s", self.id, self.lost_reason)
                return
            if remaining <= 0:
                self._mark_lost("etcd says the lease has expired")
                log.warning("etcd lease %x lost: %s", self.id, self.lost_reason)
                return
            expires = sent + remaining
            delay = interval
