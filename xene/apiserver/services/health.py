"""Readiness: can this replica reach etcd right now."""

from __future__ import annotations

from xene.store.objects import ObjectStore


class HealthService:
    """Answers /readyz from a cheap etcd round trip."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    async def check_ready(self) -> None:
        """Raise Unavailable when etcd does not answer."""
        await self.store.ping()
