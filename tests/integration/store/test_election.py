"""Leader election against a real etcd: one leader at a time, hand-over on resign or loss."""

from __future__ import annotations

import asyncio

import pytest

from tests.fixtures.etcd import EtcdServer
from xene.store.election import Election
from xene.store.etcd import EtcdClient
from xene.store.objects import ObjectStore


async def test_one_leader_and_hand_over_on_resign(etcd_store: ObjectStore):
    first = etcd_store.election("controllers", "replica-a", ttl=2)
    second = etcd_store.election("controllers", "replica-b", ttl=2)

    await asyncio.wait_for(first.campaign(), timeout=5)
    waiting = asyncio.create_task(second.campaign())
    try:
        await asyncio.sleep(0.5)
        assert not waiting.done(), "two leaders at once"
        assert first.is_leader and not second.is_leader
        assert await second.leader() == "replica-a"

        await first.resign()
        assert first.leader_lost.is_set()
        await asyncio.wait_for(waiting, timeout=5)
        assert second.is_leader
        assert await first.leader() == "replica-b"
    finally:
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        await second.resign()
    assert await first.leader() is None


async def test_a_leader_whose_lease_is_revoked_loses_and_the_other_takes_over(
    etcd_client: EtcdClient,
):
    first = Election(etcd_client, "controllers", "replica-a", ttl=2, prefix="/t")
    second = Election(etcd_client, "controllers", "replica-b", ttl=2, prefix="/t")
    await first.campaign()
    waiting = asyncio.create_task(second.campaign())
    try:
        holder = await etcd_client.get(first.key)
        assert holder is not None and holder.lease
        await etcd_client.lease_revoke(holder.lease)

        await asyncio.wait_for(first.leader_lost.wait(), timeout=5)
        assert not first.is_leader
        await asyncio.wait_for(waiting, timeout=5)
        assert second.is_leader
    finally:
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        await first.resign()
        await second.resign()


async def test_a_leader_cut_off_from_etcd_loses_the_lead(
    etcd_server: EtcdServer, etcd_client: EtcdClient
):
    election = Election(etcd_client, "controllers", "replica-a", ttl=1, prefix="/t")
    await election.campaign()
    etcd_server.kill()
    try:
        await asyncio.wait_for(election.leader_lost.wait(), timeout=6)
    finally:
        etcd_server.start()
    await asyncio.wait_for(election.campaign(), timeout=10)
    assert election.is_leader
    await election.resign()


async def test_a_restarted_process_with_the_same_identity_takes_over_at_once(
    etcd_client: EtcdClient,
):
    crashed = Election(etcd_client, "controllers", "replica-a", ttl=30, prefix="/t")
    await crashed.campaign()
    # A crash: the lease keeps running on etcd's side, nobody resigns.
    assert crashed._lease is not None and crashed._monitor is not None
    await crashed._lease.close(revoke=False)
    crashed._monitor.cancel()

    restarted = Election(etcd_client, "controllers", "replica-a", ttl=30, prefix="/t")
    await asyncio.wait_for(restarted.campaign(), timeout=5)
    assert restarted.is_leader
    await restarted.resign()


async def test_an_abandoned_campaign_leaves_nothing_behind(etcd_client: EtcdClient):
    leader = Election(etcd_client, "controllers", "replica-a", ttl=5, prefix="/t")
    await leader.campaign()
    other = Election(etcd_client, "controllers", "replica-b", ttl=5, prefix="/t")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(other.campaign(), timeout=0.5)
    await leader.resign()
    await asyncio.sleep(0.3)
    assert await other.leader() is None, "the cancelled contender must not take the lead"


async def test_an_election_as_a_context_manager(etcd_store: ObjectStore):
    async with etcd_store.election("gc", "replica-a", ttl=2) as election:
        assert election.is_leader
        assert await election.leader() == "replica-a"
    assert await election.leader() is None


async def test_an_absolute_name_is_used_as_the_key(etcd_client: EtcdClient):
    election = Election(etcd_client, "/custom/leader/controllers", "replica-a", ttl=2)
    assert election.key == "/custom/leader/controllers"
    async with election:
        holder = await etcd_client.get("/custom/leader/controllers")
        assert holder is not None and holder.value == b"replica-a"
