"""Cordoning and deleting agents (AgentAdmin) against real etcd."""

from __future__ import annotations

import pytest

from xene.api.agent import Agent, AgentSpec, AgentStatus
from xene.api.errors import Conflict, NotFound
from xene.api.meta import ObjectMeta
from xene.apiserver.services.agent_admin import AgentAdmin
from xene.apiserver.services.agents import command_key
from xene.apiserver.services.cluster_view import alive_key
from xene.store.objects import ObjectStore


async def registered(store: ObjectStore, name: str) -> Agent:
    return await store.create(
        Agent(
            metadata=ObjectMeta(name=name),
            spec=AgentSpec(capacity=2),
            status=AgentStatus(phase="Ready"),
        )
    )


async def test_cordon_and_delete_of_agents(etcd_store: ObjectStore) -> None:
    admin = AgentAdmin(etcd_store)
    await registered(etcd_store, "a1")
    cordoned = await admin.set_unschedulable("a1", True)
    assert cordoned.spec.unschedulable is True
    again = await admin.set_unschedulable("a1", True)
    assert again.metadata.resourceVersion == cordoned.metadata.resourceVersion
    assert (await admin.set_unschedulable("a1", False)).spec.unschedulable is False
    with pytest.raises(NotFound):
        await admin.set_unschedulable("nobody", True)

    # Alive (its lease-bound key exists): refused, and nothing is deleted.
    await etcd_store.put_raw(alive_key("a1"), b"{}")
    await etcd_store.put_raw(command_key("a1", "c-1"), b"{}")
    with pytest.raises(Conflict, match="xenectl cordon a1"):
        await admin.delete("a1")
    assert await etcd_store.get(Agent, "a1")

    await etcd_store.delete_raw(alive_key("a1"))
    deleted = await admin.delete("a1")
    assert deleted.metadata.name == "a1"
    with pytest.raises(NotFound):
        await etcd_store.get(Agent, "a1")
    assert await etcd_store.get_raw(command_key("a1", "c-1")) is None
