"""Watches against a real etcd: order, resume across restarts and cut connections, Gone, cleanup."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

import httpx
import pytest

from tests.fixtures.etcd import EtcdServer, TcpProxy
from xene.api.agent import Agent, AgentSpec
from xene.api.errors import Gone
from xene.api.meta import ObjectMeta
from xene.store.etcd import EtcdClient
from xene.store.objects import ObjectStore, WatchEvent


def agent(name: str, capacity: int = 1) -> Agent:
    return Agent(metadata=ObjectMeta(name=name), spec=AgentSpec(capacity=capacity))


async def eventually(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


class Recorder:
    """Consumes a watch in a task and keeps every event it delivered."""

    def __init__(self, store: ObjectStore, from_revision: int) -> None:
        self.events: list[WatchEvent[Agent]] = []
        self.error: BaseException | None = None
        self._task = asyncio.create_task(self._consume(store, from_revision))

    async def _consume(self, store: ObjectStore, from_revision: int) -> None:
        try:
            async for event in store.watch(Agent, from_revision=from_revision):
                self.events.append(event)
        except Exception as exc:
            self.error = exc

    def seen(self) -> list[tuple[str, str, int]]:
        return [(e.type, e.object.name, e.object.spec.capacity) for e in self.events]

    @property
    def running(self) -> bool:
        return not self._task.done()

    async def wait_for(self, count: int, within: float = 15.0) -> None:
        await eventually(lambda: len(self.events) >= count or self.error is not None, within)
        assert self.error is None, f"watch failed: {self.error!r}"

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    def assert_strictly_ordered(self) -> None:
        revisions = [e.revision for e in self.events]
        assert revisions == sorted(set(revisions)), f"duplicated or out of order: {revisions}"


async def set_capacity(store: ObjectStore, name: str, capacity: int) -> Agent:
    def change(obj: Agent) -> Agent:
        obj.spec.capacity = capacity
        return obj

    return await store.mutate(Agent, name, change)


async def test_watch_after_list_sees_changes_in_order(etcd_store: ObjectStore):
    await etcd_store.create(agent("before"))
    items, revision = await etcd_store.list(Agent)
    assert [a.name for a in items] == ["before"]
    recorder = Recorder(etcd_store, revision + 1)
    try:
        created = await etcd_store.create(agent("a1"))
        modified = await set_capacity(etcd_store, "a1", 2)
        deleted = await etcd_store.delete(Agent, "a1")
        await recorder.wait_for(3)

        assert recorder.seen() == [("ADDED", "a1", 1), ("MODIFIED", "a1", 2), ("DELETED", "a1", 2)]
        added, changed, gone = recorder.events
        assert added.revision == int(created.metadata.resourceVersion or 0)
        assert changed.object == modified
        assert gone.object.metadata.uid == deleted.metadata.uid
        assert gone.revision > changed.revision
        recorder.assert_strictly_ordered()
    finally:
        await recorder.stop()


async def test_watch_from_an_old_revision_replays_history(etcd_store: ObjectStore):
    first = await etcd_store.create(agent("a1"))
    await set_capacity(etcd_store, "a1", 5)
    await etcd_store.create(agent("a2"))
    recorder = Recorder(etcd_store, int(first.metadata.resourceVersion or 0))
    try:
        await recorder.wait_for(3)
        assert recorder.seen() == [("ADDED", "a1", 1), ("MODIFIED", "a1", 5), ("ADDED", "a2", 1)]
    finally:
        await recorder.stop()


async def test_watch_does_not_see_other_kinds_or_prefixes(
    etcd_store: ObjectStore, etcd_client: EtcdClient
):
    _, revision = await etcd_store.list(Agent)
    recorder = Recorder(etcd_store, revision + 1)
    try:
        other = ObjectStore(etcd_client, prefix=etcd_store.prefix + "-other")
        await other.create(agent("elsewhere"))
        await etcd_client.put(etcd_store.prefix + "/agents-like/raw", b"x")
        await etcd_store.create(agent("mine"))
        await recorder.wait_for(1)
        await asyncio.sleep(0.2)
        assert recorder.seen() == [("ADDED", "mine", 1)]
    finally:
        await recorder.stop()


@pytest.mark.parametrize("outage", ["stop", "kill"])
async def test_watch_resumes_after_etcd_restart_without_loss_or_repeats(
    etcd_server: EtcdServer, etcd_store: ObjectStore, outage: str
):
    await etcd_store.create(agent("a1"))
    _, revision = await etcd_store.list(Agent)
    recorder = Recorder(etcd_store, revision + 1)
    try:
        await etcd_store.create(agent("a2"))
        await recorder.wait_for(1)

        etcd_server.stop() if outage == "stop" else etcd_server.kill()
        await asyncio.sleep(1.5)  # the watcher keeps retrying while etcd is down
        assert recorder.running and recorder.error is None
        etcd_server.start()

        await set_capacity(etcd_store, "a1", 2)
        await etcd_store.delete(Agent, "a2")
        await etcd_store.create(agent("a3"))
        await recorder.wait_for(4)
        await asyncio.sleep(0.3)  # give a repeat the chance to show up

        assert recorder.seen() == [
            ("ADDED", "a2", 1),
            ("MODIFIED", "a1", 2),
            ("DELETED", "a2", 1),
            ("ADDED", "a3", 1),
        ]
        recorder.assert_strictly_ordered()
    finally:
        await recorder.stop()


async def test_watch_catches_up_on_changes_made_while_its_connection_was_down(
    etcd_store: ObjectStore, etcd_proxy: TcpProxy
):
    async with EtcdClient([etcd_proxy.endpoint], timeout=2.0) as watch_client:
        watching = ObjectStore(watch_client, prefix=etcd_store.prefix)
        _, revision = await etcd_store.list(Agent)
        recorder = Recorder(watching, revision + 1)
        try:
            await etcd_store.create(agent("a1"))
            await recorder.wait_for(1)

            await etcd_proxy.cut()
            # etcd stays up: these happen while the watcher cannot hear about them.
            await set_capacity(etcd_store, "a1", 7)
            await etcd_store.create(agent("a2"))
            await etcd_store.delete(Agent, "a1")
            await asyncio.sleep(0.5)
            assert len(recorder.events) == 1
            await etcd_proxy.start()

            await recorder.wait_for(4)
            await etcd_store.create(agent("a3"))
            await recorder.wait_for(5)
            await asyncio.sleep(0.2)
            assert recorder.seen() == [
                ("ADDED", "a1", 1),
                ("MODIFIED", "a1", 7),
                ("ADDED", "a2", 1),
                ("DELETED", "a1", 7),
                ("ADDED", "a3", 1),
            ]
            recorder.assert_strictly_ordered()
        finally:
            await recorder.stop()


async def test_watch_of_a_compacted_revision_is_gone(
    etcd_store: ObjectStore, etcd_client: EtcdClient
):
    first = await etcd_store.create(agent("a1"))
    for capacity in (2, 3, 4):
        await set_capacity(etcd_store, "a1", capacity)
    _, revision = await etcd_store.list(Agent)
    await etcd_client.compact(revision)

    first_revision = int(first.metadata.resourceVersion or 0)
    with pytest.raises(Gone, match="compacted"):
        async for _ in etcd_store.watch(Agent, from_revision=first_revision):
            pytest.fail("a compacted watch must not deliver events")

    # From the compaction point on, watching works again.
    recorder = Recorder(etcd_store, revision)
    try:
        await recorder.wait_for(1)
        assert recorder.seen() == [("MODIFIED", "a1", 4)]
    finally:
        await recorder.stop()


def etcd_watchers(server: EtcdServer) -> int:
    metrics = httpx.get(f"http://{server.endpoint}/metrics", timeout=5).text
    match = re.search(r"^etcd_debugging_mvcc_watcher_total (\d+)", metrics, re.MULTILINE)
    assert match, "etcd does not report its watcher count"
    return int(match.group(1))


async def test_closing_or_cancelling_a_watch_removes_it_from_etcd(
    etcd_server: EtcdServer, etcd_store: ObjectStore
):
    before = await asyncio.to_thread(etcd_watchers, etcd_server)
    watch = etcd_store.watch(Agent, from_revision=1)
    await etcd_store.create(agent("a1"))
    assert (await anext(watch)).object.name == "a1"
    assert await asyncio.to_thread(etcd_watchers, etcd_server) == before + 1
    await watch.aclose()
    await eventually(lambda: etcd_watchers(etcd_server) == before, within=5)

    recorder = Recorder(etcd_store, 1)
    await recorder.wait_for(1)
    assert await asyncio.to_thread(etcd_watchers, etcd_server) == before + 1
    await recorder.stop()
    await eventually(lambda: etcd_watchers(etcd_server) == before, within=5)
