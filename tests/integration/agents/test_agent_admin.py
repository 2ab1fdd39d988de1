"""Cordoning and deleting agents (AgentAdmin) against real etcd."""

from __future__ import annotations

import pytest

from xene.api.agent import Agent, AgentSpec, AgentStatus
from xene.api.errors import Conflict, NotFound
from xene.api.meta import ObjectMeta
from xene.apiserver.services.agent_admin import AgentAdmin
from xene.store.commands import new_command
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
    lease = await etcd_store.liveness.grant(30)
    await etcd_store.liveness.put("a1", "session-1", "replica-a", lease)
    await etcd_store.commands.send("a1", new_command("CancelRun", "wf.p.1"))
    with pytest.raises(Conflict, match="xenectl cordon a1"):
        await admin.delete("a1")
    assert await etcd_store.get(Agent, "a1")
    assert len(await etcd_store.commands.list("a1")) == 1

    await etcd_store.liveness.end(lease)
    deleted = await admin.delete("a1")
    assert deleted.metadata.name == "a1"
    with pytest.raises(NotFound):
        await etcd_store.get(Agent, "a1")
    assert await etcd_store.commands.list("a1") == []
