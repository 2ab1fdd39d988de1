"""The store on the in-memory key-value store meets the contract it meets on etcd."""

from __future__ import annotations

import pytest

from tests.contract.key_value import PassTime
from tests.contract.objects import ObjectStoreContract
from tests.fixtures.memory_store import MemoryWorld
from xene.store.objects import ObjectStore


class TestMemoryObjectStore(ObjectStoreContract):
    @pytest.fixture
    def store(self, memory_store: ObjectStore) -> ObjectStore:
        return memory_store

    @pytest.fixture
    def pass_time(self, memory_world: MemoryWorld) -> PassTime:
        return memory_world.pass_time
