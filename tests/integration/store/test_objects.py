"""The store on a real etcd: the object contract, and what only etcd can show."""

from __future__ import annotations

import asyncio

import pytest

from tests.contract.key_value import PassTime
from tests.contract.objects import ObjectStoreContract, agent
from xene.api.agent import Agent
from xene.api.errors import NotFound
from xene.store.etcd import EtcdClient
from xene.store.objects import ObjectStore


class TestEtcdObjectStore(ObjectStoreContract):
    @pytest.fixture
    def store(self, etcd_store: ObjectStore) -> ObjectStore:
        return etcd_store

    @pytest.fixture
    def pass_time(self) -> PassTime:
        return asyncio.sleep


async def test_resource_version_is_not_stored_in_the_value(
    etcd_store: ObjectStore, etcd_client: EtcdClient
):
    created = await etcd_store.create(agent("a1"))
    raw = await etcd_client.get(etcd_store.object_key(Agent, "a1"))
    assert raw is not None
    assert b"resourceVersion" not in raw.value
    assert created.metadata.resourceVersion == str(raw.mod_revision)


async def test_stores_with_different_prefixes_do_not_see_each_other(etcd_client: EtcdClient):
    one = ObjectStore(etcd_client, prefix="/one")
    two = ObjectStore(etcd_client, prefix="/two")
    await one.create(agent("a1"))
    assert (await two.list(Agent))[0] == []
    with pytest.raises(NotFound):
        await two.get(Agent, "a1")
