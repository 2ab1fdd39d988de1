"""ObjectStore against a real etcd: CRUD, compare-and-swap, mutate, lists, counters, raw keys."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from xene.api.agent import Agent, AgentPhase, AgentSpec
from xene.api.errors import AlreadyExists, Conflict, Invalid, NotFound
from xene.api.meta import ObjectMeta
from xene.api.workflow import Workflow
from xene.store.etcd import EtcdClient
from xene.store.objects import ObjectStore


def agent(name: str, *, labels: dict[str, str] | None = None, capacity: int = 1) -> Agent:
    return Agent(
        metadata=ObjectMeta(name=name, labels=labels or {}),
        spec=AgentSpec(capacity=capacity, hostname=f"{name}.local"),
    )


async def test_create_fills_server_fields_and_get_returns_the_same(etcd_store: ObjectStore):
    created = await etcd_store.create(agent("a1", labels={"os": "linux"}, capacity=4))

    assert created.metadata.uid
    assert created.metadata.generation == 1
    assert created.metadata.creationTimestamp is not None
    assert int(created.metadata.resourceVersion or 0) > 0
    fetched = await etcd_store.get(Agent, "a1")
    assert fetched == created
    assert fetched.spec.capacity == 4
    assert fetched.metadata.labels == {"os": "linux"}


async def test_create_does_not_touch_the_callers_object(etcd_store: ObjectStore):
    draft = agent("a1")
    await etcd_store.create(draft)
    assert draft.metadata.uid is None
    assert draft.metadata.resourceVersion is None


async def test_resource_version_is_not_stored_in_the_value(
    etcd_store: ObjectStore, etcd_client: EtcdClient
):
    created = await etcd_store.create(agent("a1"))
    raw = await etcd_client.get(etcd_store.object_key(Agent, "a1"))
    assert raw is not None
    assert b"resourceVersion" not in raw.value
    assert created.metadata.resourceVersion == str(raw.mod_revision)


async def test_get_of_a_missing_object_names_it(etcd_store: ObjectStore):
    with pytest.raises(NotFound, match="workflow 'nope' not found"):
        await etcd_store.get(Workflow, "nope")


async def test_create_twice_is_already_exists(etcd_store: ObjectStore):
    await etcd_store.create(agent("a1"))
    with pytest.raises(AlreadyExists, match="agent 'a1' already exists"):
        await etcd_store.create(agent("a1", capacity=9))
    assert (await etcd_store.get(Agent, "a1")).spec.capacity == 1


async def test_names_that_would_break_the_key_layout_are_invalid(etcd_store: ObjectStore):
    for bad in ("", "a/b", "has space"):
        with pytest.raises(Invalid, match=r"metadata\.name"):
            await etcd_store.create(agent(bad))


async def test_concurrent_updates_from_one_read_let_exactly_one_win(etcd_store: ObjectStore):
    await etcd_store.create(agent("a1"))
    read = await etcd_store.get(Agent, "a1")
    first, second = read.model_copy(deep=True), read.model_copy(deep=True)
    first.spec.capacity = 2
    second.spec.capacity = 3

    results = await asyncio.gather(
        etcd_store.update(first), etcd_store.update(second), return_exceptions=True
    )

    winners = [r for r in results if isinstance(r, Agent)]
    losers = [r for r in results if isinstance(r, Conflict)]
    assert len(winners) == 1 and len(losers) == 1
    assert "agent 'a1'" in str(losers[0]) and "read it again" in str(losers[0])
    assert (await etcd_store.get(Agent, "a1")).spec.capacity == winners[0].spec.capacity


async def test_update_with_a_stale_version_is_a_conflict(etcd_store: ObjectStore):
    created = await etcd_store.create(agent("a1"))
    fresh = created.model_copy(deep=True)
    fresh.spec.capacity = 5
    await etcd_store.update(fresh)
    stale = created.model_copy(deep=True)
    stale.spec.capacity = 7
    with pytest.raises(Conflict):
        await etcd_store.update(stale)
    assert (await etcd_store.get(Agent, "a1")).spec.capacity == 5


async def test_update_without_resource_version_is_invalid(etcd_store: ObjectStore):
    await etcd_store.create(agent("a1"))
    with pytest.raises(Invalid, match=r"metadata\.resourceVersion"):
        await etcd_store.update(agent("a1", capacity=3))


async def test_update_of_a_deleted_object_is_not_found(etcd_store: ObjectStore):
    created = await etcd_store.create(agent("a1"))
    await etcd_store.delete(Agent, "a1")
    with pytest.raises(NotFound):
        await etcd_store.update(created)


async def test_generation_changes_only_with_the_spec(etcd_store: ObjectStore):
    created = await etcd_store.create(agent("a1"))

    status_only = created.model_copy(deep=True)
    status_only.status.phase = AgentPhase.READY
    after_status = await etcd_store.update(status_only)
    assert after_status.metadata.generation == 1
    assert after_status.metadata.resourceVersion != created.metadata.resourceVersion

    labels_only = after_status.model_copy(deep=True)
    labels_only.metadata.labels["zone"] = "a"
    after_labels = await etcd_store.update(labels_only)
    assert after_labels.metadata.generation == 1

    spec_change = after_labels.model_copy(deep=True)
    spec_change.spec.capacity = 8
    after_spec = await etcd_store.update(spec_change)
    assert after_spec.metadata.generation == 2
    assert (await etcd_store.get(Agent, "a1")).metadata.generation == 2


async def test_update_keeps_identity_fields_from_the_stored_copy(etcd_store: ObjectStore):
    created = await etcd_store.create(agent("a1"))
    forged = created.model_copy(deep=True)
    forged.metadata.uid = "forged"
    forged.metadata.creationTimestamp = datetime(2000, 1, 1, tzinfo=UTC)
    forged.metadata.generation = 99
    forged.spec.capacity = 2

    updated = await etcd_store.update(forged)

    assert updated.metadata.uid == created.metadata.uid
    assert updated.metadata.creationTimestamp == created.metadata.creationTimestamp
    assert updated.metadata.generation == 2


async def test_an_update_that_changes_nothing_writes_nothing(etcd_store: ObjectStore):
    created = await etcd_store.create(agent("a1"))
    same = await etcd_store.update(created.model_copy(deep=True))
    assert same.metadata.resourceVersion == created.metadata.resourceVersion


async def test_mutate_lands_every_concurrent_increment(etcd_store: ObjectStore):
    await etcd_store.create(agent("a1", labels={"count": "0"}))

    def increment(obj: Agent) -> Agent:
        obj.metadata.labels["count"] = str(int(obj.metadata.labels["count"]) + 1)
        return obj

    await asyncio.gather(*(etcd_store.mutate(Agent, "a1", increment) for _ in range(20)))

    assert (await etcd_store.get(Agent, "a1")).metadata.labels["count"] == "20"


async def test_mutate_accepts_async_functions_and_none_for_no_change(etcd_store: ObjectStore):
    created = await etcd_store.create(agent("a1"))

    async def set_ready(obj: Agent) -> Agent:
        obj.status.phase = AgentPhase.READY
        return obj

    ready = await etcd_store.mutate(Agent, "a1", set_ready)
    assert ready.status.phase == AgentPhase.READY
    unchanged = await etcd_store.mutate(Agent, "a1", lambda obj: None)
    assert unchanged.metadata.resourceVersion == ready.metadata.resourceVersion
    assert ready.metadata.uid == created.metadata.uid
    with pytest.raises(NotFound):
        await etcd_store.mutate(Agent, "missing", lambda obj: obj)


async def test_delete_returns_the_deleted_object(etcd_store: ObjectStore):
    created = await etcd_store.create(agent("a1", capacity=3))
    deleted = await etcd_store.delete(Agent, "a1")
    assert deleted.spec.capacity == 3
    assert deleted.metadata.uid == created.metadata.uid
    with pytest.raises(NotFound):
        await etcd_store.get(Agent, "a1")
    with pytest.raises(NotFound, match="agent 'a1' not found"):
        await etcd_store.delete(Agent, "a1")


async def test_delete_with_a_stale_version_is_a_conflict(etcd_store: ObjectStore):
    created = await etcd_store.create(agent("a1"))
    changed = created.model_copy(deep=True)
    changed.spec.capacity = 2
    current = await etcd_store.update(changed)

    with pytest.raises(Conflict):
        await etcd_store.delete(Agent, "a1", resource_version=created.metadata.resourceVersion)
    assert await etcd_store.get(Agent, "a1") == current
    await etcd_store.delete(Agent, "a1", resource_version=current.metadata.resourceVersion)
    with pytest.raises(NotFound):
        await etcd_store.get(Agent, "a1")


async def test_list_filters_by_labels_and_name_prefix(etcd_store: ObjectStore):
    await etcd_store.create(agent("web-1", labels={"os": "linux", "tier": "web"}))
    await etcd_store.create(agent("web-2", labels={"os": "windows", "tier": "web"}))
    last = await etcd_store.create(agent("db-1", labels={"os": "linux", "tier": "db"}))

    everything, revision = await etcd_store.list(Agent)
    assert [a.name for a in everything] == ["db-1", "web-1", "web-2"]
    assert revision >= int(last.metadata.resourceVersion or 0)

    linux, _ = await etcd_store.list(Agent, label_selector={"os": "linux"})
    assert [a.name for a in linux] == ["db-1", "web-1"]
    linux_web, _ = await etcd_store.list(Agent, label_selector={"os": "linux", "tier": "web"})
    assert [a.name for a in linux_web] == ["web-1"]
    web, _ = await etcd_store.list(Agent, name_prefix="web-")
    assert [a.name for a in web] == ["web-1", "web-2"]
    assert (await etcd_store.list(Workflow))[0] == []


async def test_stores_with_different_prefixes_do_not_see_each_other(etcd_client: EtcdClient):
    one = ObjectStore(etcd_client, prefix="/one")
    two = ObjectStore(etcd_client, prefix="/two")
    await one.create(agent("a1"))
    assert (await two.list(Agent))[0] == []
    with pytest.raises(NotFound):
        await two.get(Agent, "a1")


async def test_next_sequence_is_gap_and_duplicate_free_under_concurrency(
    etcd_store: ObjectStore,
):
    numbers = await asyncio.gather(*(etcd_store.next_sequence("runs/p1") for _ in range(50)))
    assert sorted(numbers) == list(range(1, 51))
    assert await etcd_store.next_sequence("runs/p1") == 51
    assert await etcd_store.next_sequence("runs/p2") == 1
    assert await etcd_store.get_raw("runs/p1") == b"51"


async def test_raw_keys_round_trip_and_list_relative_names(etcd_store: ObjectStore):
    await etcd_store.put_raw("markers/a", b"1")
    await etcd_store.put_raw("markers/b", "two")
    assert await etcd_store.get_raw("markers/a") == b"1"
    assert await etcd_store.get_raw("markers/zzz") is None
    values, revision = await etcd_store.list_raw("markers/")
    assert values == {"markers/a": b"1", "markers/b": b"two"}
    assert revision > 0
    assert await etcd_store.delete_raw("markers/a") is True
    assert await etcd_store.delete_raw("markers/a") is False
    with pytest.raises(Invalid):
        await etcd_store.put_raw("registry/agents/x", b"clobber")
    with pytest.raises(Invalid):
        await etcd_store.put_raw("/absolute", b"x")


async def test_an_object_created_with_a_lease_goes_with_it(etcd_store: ObjectStore):
    async with etcd_store.lease(ttl=5) as lease:
        created = await etcd_store.create(agent("a1"), lease=lease.id)
        changed = created.model_copy(deep=True)
        changed.status.phase = AgentPhase.READY
        await etcd_store.update(changed)  # must keep the lease attached
    with pytest.raises(NotFound):
        await etcd_store.get(Agent, "a1")
