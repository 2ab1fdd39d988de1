"""The in-memory key-value store keeps etcd's semantics (the contract), with its clock by hand."""

from __future__ import annotations

import asyncio

import pytest

from tests.contract.key_value import KeyValueContract, PassTime
from tests.fixtures.memory_store import MemoryWorld, settle
from xene.api.errors import Unavailable
from xene.store.kv import KeyValueStore
from xene.store.memory import MemoryKeyValueStore


class TestMemoryKeyValue(KeyValueContract):
    @pytest.fixture
    def kv(self, memory_kv: MemoryKeyValueStore) -> KeyValueStore:
        return memory_kv

    @pytest.fixture
    def pass_time(self, memory_world: MemoryWorld) -> PassTime:
        return memory_world.pass_time


async def test_a_broken_watch_raises_what_broke_it(memory_kv: MemoryKeyValueStore) -> None:
    events = memory_kv.watch("/a")
    waiting = asyncio.ensure_future(anext(aiter(events)))
    await settle()
    memory_kv.break_watches()
    with pytest.raises(Unavailable):
        await waiting


async def test_a_closed_store_refuses_calls(memory_kv: MemoryKeyValueStore) -> None:
    await memory_kv.close()
    with pytest.raises(Unavailable):
        await memory_kv.get("/a")
