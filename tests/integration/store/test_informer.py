"""The informer on a real etcd: it catches up after a cut connection, even past a compaction."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.fixtures.etcd import TcpProxy
from xene.api.agent import Agent, AgentSpec
from xene.api.meta import ObjectMeta
from xene.backoff import Backoff
from xene.store.etcd import EtcdClient
from xene.store.informer import Change, Informer
from xene.store.objects import ObjectStore


def agent(name: str, capacity: int = 1) -> Agent:
    return Agent(metadata=ObjectMeta(name=name), spec=AgentSpec(capacity=capacity))


async def test_a_cut_watch_past_a_compaction_lists_again_and_tells_what_changed(
    etcd_store: ObjectStore,
    etcd_client: EtcdClient,
    etcd_proxy: TcpProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="xene.store.informer")
    async with EtcdClient([etcd_proxy.endpoint], timeout=2.0) as behind_proxy:
        watching = ObjectStore(behind_proxy, prefix=etcd_store.prefix)
        informer: Informer[Agent] = Informer(watching.list_watch(Agent), backoff=Backoff(0.05, 0.2))
        heard: list[tuple[str, str]] = []

        def hear(change: Change[Agent]) -> None:
            heard.append((change.type, change.key))

        await etcd_store.create(agent("kept"))
        await etcd_store.create(agent("deleted"))
        with informer.listening(hear):
            task = asyncio.create_task(informer.run())
            try:
                await asyncio.wait_for(informer.wait_until(lambda c: len(c) == 2), 10)
                heard.clear()
                await etcd_proxy.cut()
                await etcd_store.delete(Agent, "deleted")
                await etcd_store.create(agent("added", 3))
                _, revision = await etcd_store.list(Agent)
                await etcd_client.compact(revision)
                await etcd_proxy.start()
                await asyncio.wait_for(informer.wait_until(lambda c: "added" in c), 20)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
    assert sorted(heard) == [("ADDED", "added"), ("DELETED", "deleted")]
    assert informer.keys() == ["added", "kept"]
    assert informer.revision >= revision
    assert "listing again" in caplog.text
