"""Leases against a real etcd: kept alive while held, revoked on exit, loss signalled."""

from __future__ import annotations

import asyncio

from tests.fixtures.etcd import EtcdServer
from xene.store.etcd import EtcdClient
from xene.store.leases import Lease


async def test_a_held_lease_outlives_its_ttl_and_its_keys_go_on_exit(etcd_client: EtcdClient):
    async with Lease(etcd_client, ttl=1) as lease:
        await etcd_client.put("/t/alive", b"1", lease=lease.id)
        await asyncio.sleep(2.5)  # more than twice the TTL: only keepalives save the key
        assert await etcd_client.get("/t/alive") is not None
        assert not lease.lost.is_set()
        lease_id = lease.id
    assert await etcd_client.get("/t/alive") is None
    assert await etcd_client.lease_time_to_live(lease_id) == -1


async def test_an_unkept_lease_expires_with_its_keys(etcd_client: EtcdClient):
    grant = await etcd_client.lease_grant(1)
    await etcd_client.put("/t/mortal", b"1", lease=grant.id)
    await asyncio.sleep(2.5)
    assert await etcd_client.get("/t/mortal") is None


async def test_a_revoked_lease_is_reported_lost(etcd_client: EtcdClient):
    async with Lease(etcd_client, ttl=2, refresh_interval=0.2) as lease:
        await etcd_client.lease_revoke(lease.id)
        await asyncio.wait_for(lease.lost.wait(), timeout=5)
        assert lease.lost_reason is not None and "expired" in lease.lost_reason


async def test_losing_etcd_for_longer_than_the_ttl_loses_the_lease(
    etcd_server: EtcdServer, etcd_client: EtcdClient
):
    async with Lease(etcd_client, ttl=1) as lease:
        etcd_server.kill()
        try:
            await asyncio.wait_for(lease.lost.wait(), timeout=6)
            assert lease.lost_reason is not None and "TTL" in lease.lost_reason
        finally:
            etcd_server.start()


async def test_a_short_outage_does_not_lose_the_lease(
    etcd_server: EtcdServer, etcd_client: EtcdClient
):
    async with Lease(etcd_client, ttl=5, refresh_interval=0.3) as lease:
        await etcd_client.put("/t/kept", b"1", lease=lease.id)
        etcd_server.kill()
        await asyncio.sleep(0.5)
        etcd_server.start()
        await asyncio.sleep(1.5)
        assert not lease.lost.is_set()
        assert await etcd_client.get("/t/kept") is not None
