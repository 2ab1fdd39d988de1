"""etcd itself against the key-value contract the in-memory store is held to."""

from __future__ import annotations

import asyncio

import pytest

from tests.contract.key_value import KeyValueContract, PassTime
from xene.store.etcd import EtcdClient
from xene.store.kv import KeyValueStore


class TestEtcdKeyValue(KeyValueContract):
    @pytest.fixture
    def kv(self, etcd_client: EtcdClient) -> KeyValueStore:
        return etcd_client

    @pytest.fixture
    def pass_time(self) -> PassTime:
        return asyncio.sleep
