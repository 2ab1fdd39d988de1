"""What controllers and services rely on in the store, checked on etcd and in memory.

A subclass provides the fixtures `store` (an empty ObjectStore) and `pass_time` (an async
callable letting `seconds` of lease time go by). Objects: CRUD with compare-and-swap, mutate,
lists, watches. Named operations: liveness, commands and run records, alone and as parts of
another write's transaction.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from tests.contract.key_value import PassTime
from xene.api.agent import Agent, AgentPhase, AgentSpec
from xene.api.errors import AlreadyExists, Conflict, Invalid, NotFound, Stale
from xene.api.meta import ObjectMeta
from xene.api.run import PipelineRun, PipelineRunSpec, RunPhase
from xene.api.workflow import Workflow
from xene.store.commands import new_command
from xene.store.objects import ObjectStore


def agent(name: str, *, labels: dict[str, str] | None = None, capacity: int = 1) -> Agent:
    return Agent(
        metadata=ObjectMeta(name=name, labels=labels or {}),
        spec=AgentSpec(capacity=capacity, hostname=f"{name}.local"),
    )


def a_run(pipeline: str = "wf.p", number: int = 1) -> PipelineRun:
    return PipelineRun(
        metadata=ObjectMeta(name=f"{pipeline}.{number}"),
        spec=PipelineRunSpec(workflow="wf", pipeline=pipeline.split(".")[-1], number=number),
    )


async def eventually(condition, within: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Poll an async condition until it holds."""
    deadline = asyncio.get_running_loop().time() + within
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


class ObjectStoreContract:
    """The expectations; see the module docstring for the fixtures a subclass provides."""

    async def test_create_fills_server_fields_and_get_returns_the_same(
        self, store: ObjectStore
    ) -> None:
        created = await store.create(agent("a1", labels={"os": "linux"}, capacity=4))

        assert created.metadata.uid
        assert created.metadata.generation == 1
        assert created.metadata.creationTimestamp is not None
        assert int(created.metadata.resourceVersion or 0) > 0
        fetched = await store.get(Agent, "a1")
        assert fetched == created
        assert fetched.spec.capacity == 4
        assert fetched.metadata.labels == {"os": "linux"}

    async def test_create_does_not_touch_the_callers_object(self, store: ObjectStore) -> None:
        draft = agent("a1")
        await store.create(draft)
        assert draft.metadata.uid is None
        assert draft.metadata.resourceVersion is None

    async def test_get_of_a_missing_object_names_it(self, store: ObjectStore) -> None:
        with pytest.raises(NotFound, match="workflow 'nope' not found"):
            await store.get(Workflow, "nope")

    async def test_create_twice_is_already_exists(self, store: ObjectStore) -> None:
        await store.create(agent("a1"))
        with pytest.raises(AlreadyExists, match="agent 'a1' already exists"):
            await store.create(agent("a1", capacity=9))
        assert (await store.get(Agent, "a1")).spec.capacity == 1

    async def test_names_that_would_break_the_key_layout_are_invalid(
        self, store: ObjectStore
    ) -> None:
        for bad in ("", "a/b", "has space"):
            with pytest.raises(Invalid, match=r"metadata\.name"):
                await store.create(agent(bad))

    async def test_concurrent_updates_from_one_read_let_exactly_one_win(
        self, store: ObjectStore
    ) -> None:
        await store.create(agent("a1"))
        read = await store.get(Agent, "a1")
        first, second = read.model_copy(deep=True), read.model_copy(deep=True)
        first.spec.capacity = 2
        second.spec.capacity = 3

        results = await asyncio.gather(
            store.update(first), store.update(second), return_exceptions=True
        )

        winners = [r for r in results if isinstance(r, Agent)]
        losers = [r for r in results if isinstance(r, Conflict)]
        assert len(winners) == 1 and len(losers) == 1
        assert "agent 'a1'" in str(losers[0]) and "read it again" in str(losers[0])
        assert (await store.get(Agent, "a1")).spec.capacity == winners[0].spec.capacity

    async def test_update_with_a_stale_version_is_a_conflict(self, store: ObjectStore) -> None:
        created = await store.create(agent("a1"))
        fresh = created.model_copy(deep=True)
        fresh.spec.capacity = 5
        await store.update(fresh)
        stale = created.model_copy(deep=True)
        stale.spec.capacity = 7
        with pytest.raises(Conflict):
            await store.update(stale)
        assert (await store.get(Agent, "a1")).spec.capacity == 5

    async def test_update_without_resource_version_is_invalid(self, store: ObjectStore) -> None:
        await store.create(agent("a1"))
        with pytest.raises(Invalid, match=r"metadata\.resourceVersion"):
            await store.update(agent("a1", capacity=3))

    async def test_update_of_a_deleted_object_is_not_found(self, store: ObjectStore) -> None:
        created = await store.create(agent("a1"))
        await store.delete(Agent, "a1")
        with pytest.raises(NotFound):
            await store.update(created)

    async def test_generation_changes_only_with_the_spec(self, store: ObjectStore) -> None:
        created = await store.create(agent("a1"))

        status_only = created.model_copy(deep=True)
        status_only.status.phase = AgentPhase.READY
        after_status = await store.update(status_only)
        assert after_status.metadata.generation == 1
        assert after_status.metadata.resourceVersion != created.metadata.resourceVersion

        labels_only = after_status.model_copy(deep=True)
        labels_only.metadata.labels["zone"] = "a"
        after_labels = await store.update(labels_only)
        assert after_labels.metadata.generation == 1

        spec_change = after_labels.model_copy(deep=True)
        spec_change.spec.capacity = 8
        after_spec = await store.update(spec_change)
        assert after_spec.metadata.generation == 2
        assert (await store.get(Agent, "a1")).metadata.generation == 2

    async def test_update_keeps_identity_fields_from_the_stored_copy(
        self, store: ObjectStore
    ) -> None:
        created = await store.create(agent("a1"))
        forged = created.model_copy(deep=True)
        forged.metadata.uid = "forged"
        forged.metadata.creationTimestamp = datetime(2000, 1, 1, tzinfo=UTC)
        forged.metadata.generation = 99
        forged.spec.capacity = 2

        updated = await store.update(forged)

        assert updated.metadata.uid == created.metadata.uid
        assert updated.metadata.creationTimestamp == created.metadata.creationTimestamp
        assert updated.metadata.generation == 2

    async def test_an_update_that_changes_nothing_writes_nothing(self, store: ObjectStore) -> None:
        created = await store.create(agent("a1"))
        same = await store.update(created.model_copy(deep=True))
        assert same.metadata.resourceVersion == created.metadata.resourceVersion

    async def test_mutate_lands_every_concurrent_increment(self, store: ObjectStore) -> None:
        await store.create(agent("a1", labels={"count": "0"}))

        def increment(obj: Agent) -> Agent:
            obj.metadata.labels["count"] = str(int(obj.metadata.labels["count"]) + 1)
            return obj

        await asyncio.gather(*(store.mutate(Agent, "a1", increment) for _ in range(20)))

        assert (await store.get(Agent, "a1")).metadata.labels["count"] == "20"

    async def test_mutate_accepts_async_functions_and_none_for_no_change(
        self, store: ObjectStore
    ) -> None:
        created = await store.create(agent("a1"))

        async def set_ready(obj: Agent) -> Agent:
            obj.status.phase = AgentPhase.READY
            return obj

        ready = await store.mutate(Agent, "a1", set_ready)
        assert ready.status.phase == AgentPhase.READY
        unchanged = await store.mutate(Agent, "a1", lambda obj: None)
        assert unchanged.metadata.resourceVersion == ready.metadata.resourceVersion
        assert ready.metadata.uid == created.metadata.uid
        with pytest.raises(NotFound):
            await store.mutate(Agent, "missing", lambda obj: obj)

    async def test_delete_returns_the_deleted_object(self, store: ObjectStore) -> None:
        created = await store.create(agent("a1", capacity=3))
        deleted = await store.delete(Agent, "a1")
        assert deleted.spec.capacity == 3
        assert deleted.metadata.uid == created.metadata.uid
        with pytest.raises(NotFound):
            await store.get(Agent, "a1")
        with pytest.raises(NotFound, match="agent 'a1' not found"):
            await store.delete(Agent, "a1")

    async def test_delete_with_a_stale_version_is_a_conflict(self, store: ObjectStore) -> None:
        created = await store.create(agent("a1"))
        changed = created.model_copy(deep=True)
        changed.spec.capacity = 2
        current = await store.update(changed)

        with pytest.raises(Conflict):
            await store.delete(Agent, "a1", resource_version=created.metadata.resourceVersion)
        assert await store.get(Agent, "a1") == current
        await store.delete(Agent, "a1", resource_version=current.metadata.resourceVersion)
        with pytest.raises(NotFound):
            await store.get(Agent, "a1")

    async def test_list_filters_by_labels_and_name_prefix(self, store: ObjectStore) -> None:
        await store.create(agent("web-1", labels={"os": "linux", "tier": "web"}))
        await store.create(agent("web-2", labels={"os": "windows", "tier": "web"}))
        last = await store.create(agent("db-1", labels={"os": "linux", "tier": "db"}))

        everything, revision = await store.list(Agent)
        assert [a.name for a in everything] == ["db-1", "web-1", "web-2"]
        assert revision >= int(last.metadata.resourceVersion or 0)

        linux, _ = await store.list(Agent, label_selector={"os": "linux"})
        assert [a.name for a in linux] == ["db-1", "web-1"]
        linux_web, _ = await store.list(Agent, label_selector={"os": "linux", "tier": "web"})
        assert [a.name for a in linux_web] == ["web-1"]
        web, _ = await store.list(Agent, name_prefix="web-")
        assert [a.name for a in web] == ["web-1", "web-2"]
        assert (await store.list(Workflow))[0] == []

    async def test_an_object_created_with_a_lease_goes_with_it(self, store: ObjectStore) -> None:
        async with store.lease(ttl=5) as lease:
            created = await store.create(agent("a1"), lease=lease.id)
            changed = created.model_copy(deep=True)
            changed.status.phase = AgentPhase.READY
            await store.update(changed)  # must keep the lease attached
        with pytest.raises(NotFound):
            await store.get(Agent, "a1")

    # -- transactions of named operations ---------------------------------------------------

    async def test_mutate_stores_a_command_with_the_change_and_only_with_one(
        self, store: ObjectStore
    ) -> None:
        await store.create(a_run())

        def finish(run: PipelineRun) -> PipelineRun:
            run.status.phase = RunPhase.SUCCEEDED
            return run

        cancel = new_command("CancelRun", "wf.p.1", {"attempt": 1})
        done = await store.mutate(
            PipelineRun, "wf.p.1", finish, also=lambda run: [store.commands.sending("w", cancel)]
        )
        assert done.status.phase == RunPhase.SUCCEEDED
        assert [c.id for c in await store.commands.list("w")] == [cancel.id]

        again = new_command("CancelRun", "wf.p.1")
        await store.mutate(
            PipelineRun,
            "wf.p.1",
            lambda run: None,
            also=lambda run: [store.commands.sending("w", again)],
        )
        assert [c.id for c in await store.commands.list("w")] == [cancel.id]

    async def test_a_failed_condition_writes_nothing_and_is_stale(
        self, store: ObjectStore, pass_time: PassTime
    ) -> None:
        created = await store.create(agent("a1"))

        def ready(obj: Agent) -> Agent:
            obj.status.phase = AgentPhase.READY
            return obj

        with pytest.raises(Stale):
            await store.mutate(Agent, "a1", ready, also=lambda _: [store.liveness.alive("a1")])
        assert (await store.get(Agent, "a1")).metadata.resourceVersion == (
            created.metadata.resourceVersion
        )
        lease = await store.liveness.grant(30)
        await store.liveness.put("a1", "session-1", "replica-a", lease)
        marked = await store.mutate(Agent, "a1", ready, also=lambda _: [store.liveness.alive("a1")])
        assert marked.status.phase == AgentPhase.READY
        with pytest.raises(Stale):
            await store.delete(Agent, "a1", also=[store.liveness.gone("a1")])
        await store.liveness.end(lease)
        await store.delete(Agent, "a1", also=[store.liveness.gone("a1")])

    # -- liveness -----------------------------------------------------------------------------

    async def test_liveness_lasts_while_its_lease_is_renewed(
        self, store: ObjectStore, pass_time: PassTime
    ) -> None:
        steady = await store.liveness.grant(2)
        lapsing = await store.liveness.grant(2)
        written = await store.liveness.put("steady", "s1", "replica-a", steady)
        await store.liveness.put("lapsing", "s2", "replica-a", lapsing)
        entry = await store.liveness.get("steady")
        assert entry is not None
        assert (entry.session, entry.server, entry.revision, entry.lease) == (
            "s1",
            "replica-a",
            written,
            steady,
        )
        for _ in range(4):
            await pass_time(1.0)
            assert await store.liveness.renew(steady) > 0

        async def lapsed() -> bool:
            return await store.liveness.get("lapsing") is None

        await eventually(lapsed)
        assert await store.liveness.get("steady") is not None
        assert await store.liveness.renew(lapsing) == 0
        await store.liveness.end(steady)
        assert await store.liveness.get("steady") is None

    # -- commands -----------------------------------------------------------------------------

    async def test_commands_queue_per_agent_in_order_until_acknowledged(
        self, store: ObjectStore
    ) -> None:
        first = new_command("StartRun", "wf.p.1", {"attempt": 1})
        second = new_command("CancelRun", "wf.p.1", {"attempt": 1, "reason": "stop"})
        await store.commands.send("w1", first)
        await store.commands.send("w1", second)
        await store.commands.send("w2", new_command("StartRun", "wf.q.1"))
        assert [c.id for c in await store.commands.list("w1")] == [first.id, second.id]
        assert (await store.commands.get("w1", second.id)) == second
        assert second.attempt == 1
        await store.commands.acknowledge("w1", first.id)
        assert [c.id for c in await store.commands.list("w1")] == [second.id]
        assert await store.commands.get("w1", first.id) is None
        assert len(await store.commands.list("w2")) == 1

    async def test_an_agent_deleted_with_its_commands_only_while_it_is_gone(
        self, store: ObjectStore
    ) -> None:
        await store.create(Agent(metadata=ObjectMeta(name="w1")))
        await store.commands.send("w1", new_command("StartRun", "wf.p.1"))
        await store.commands.send("w10", new_command("StartRun", "wf.q.1"))
        lease = await store.liveness.grant(30)
        await store.liveness.put("w1", "session-1", "replica-a", lease)
        parts = [store.liveness.gone("w1"), store.commands.clearing("w1")]
        with pytest.raises(Stale):
            await store.delete(Agent, "w1", also=parts)
        assert len(await store.commands.list("w1")) == 1
        await store.liveness.end(lease)
        await store.delete(Agent, "w1", also=parts)
        assert await store.commands.list("w1") == []
        assert (
            len(await store.commands.list("w10")) == 1
        )  # another agent's, though it shares a prefix

    # -- run records --------------------------------------------------------------------------

    async def test_run_numbers_have_no_gaps_or_duplicates_under_concurrency(
        self, store: ObjectStore
    ) -> None:
        created = await asyncio.gather(
            *(store.runs.create("wf.p", lambda n: a_run("wf.p", n)) for _ in range(30))
        )
        numbers = sorted(c.run.spec.number for c in created if c.run is not None)
        assert numbers == list(range(1, 31))
        other = await store.runs.create("wf.q", lambda n: a_run("wf.q", n))
        assert other.run is not None and other.run.spec.number == 1

    async def test_an_idempotency_key_makes_one_run(self, store: ObjectStore) -> None:
        results = await asyncio.gather(
            *(
                store.runs.create("wf.p", lambda n: a_run("wf.p", n), dedup_key="tick-1")
                for _ in range(5)
            )
        )
        made = [r.run for r in results if r.run is not None]
        assert len(made) == 1
        name = made[0].metadata.name
        assert all(r.duplicate_of == name for r in results if r.run is None)
        assert await store.runs.duplicate_of("wf.p", "tick-1") == name
        assert (await store.get(PipelineRun, name)).metadata.uid == made[0].metadata.uid

    async def test_a_run_can_start_in_the_transaction_that_numbers_it(
        self, store: ObjectStore
    ) -> None:
        def start(run: PipelineRun) -> tuple[str, object]:
            return "w1", new_command("StartRun", run.metadata.name, {"uid": run.metadata.uid})

        created = await store.runs.create("wf.p", lambda n: a_run("wf.p", n), start=start)  # type: ignore[arg-type]
        assert created.run is not None
        (command,) = await store.commands.list("w1")
        assert command.run == "wf.p.1" and command.payload["uid"] == created.run.metadata.uid

    async def test_a_reset_counter_steps_over_runs_that_exist(self, store: ObjectStore) -> None:
        await store.create(a_run("wf.p", 1))
        await store.create(a_run("wf.p", 2))
        created = await store.runs.create("wf.p", lambda n: a_run("wf.p", n))
        assert created.run is not None and created.run.spec.number == 3

    async def test_deleting_a_run_takes_its_key_unless_it_changed(self, store: ObjectStore) -> None:
        made = await store.runs.create("wf.p", lambda n: a_run("wf.p", n), dedup_key="k")
        assert made.run is not None
        changed = made.run.model_copy(deep=True)
        changed.status.phase = RunPhase.SUCCEEDED
        current = await store.update(changed)
        assert not await store.runs.delete(made.run, "wf.p", "k")
        assert await store.runs.delete(current, "wf.p", "k")
        assert await store.runs.duplicate_of("wf.p", "k") is None
        with pytest.raises(NotFound):
            await store.get(PipelineRun, current.metadata.name)

    # -- watches --------------------------------------------------------------------------------

    async def test_a_watch_after_a_list_sees_every_change_in_order(
        self, store: ObjectStore
    ) -> None:
        await store.create(agent("before"))
        _, revision = await store.list(Agent)
        events = store.watch(Agent, from_revision=revision + 1)
        seen = []

        async def take(count: int) -> None:
            async for event in events:
                seen.append((event.type, event.object.name, event.object.spec.capacity))
                if len(seen) == count:
                    return

        try:
            created = await store.create(agent("a", capacity=1))
            changed = created.model_copy(deep=True)
            changed.spec.capacity = 2
            await store.update(changed)
            await store.delete(Agent, "a")
            await asyncio.wait_for(take(3), 10)
        finally:
            await events.aclose()
        assert seen == [("ADDED", "a", 1), ("MODIFIED", "a", 2), ("DELETED", "a", 2)]
