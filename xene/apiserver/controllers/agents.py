"""Keeps each Agent's status true: Ready exactly while its liveness key lives, and its pipelines.

The liveness key is written with the lease the agent's heartbeats renew (services/agents.py);
when the lease expires etcd deletes the key, and this controller marks the agent NotReady. The
scheduler reacts to the key itself, so re-placement does not wait for this status write.
Decisions come from the cluster view and the agents' cache; etcd is written only when they say
the stored status is stale.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from xene.api.agent import Agent, AgentPhase
from xene.api.errors import NotFound
from xene.apiserver.controllers.base import KeySource, WatchSource, own_name
from xene.apiserver.services.cluster_view import ClusterView, ViewChange
from xene.store.objects import ObjectStore

log = logging.getLogger(__name__)

LEASE_EXPIRED_MESSAGE = "no heartbeat within the lease TTL: the agent is gone or cut off"


class AgentTriggers:
    """Agents whose status may be stale, as liveness keys and placements change."""

    def __init__(self, view: ClusterView, resync_seconds: float) -> None:
        self.view = view
        self.resync_seconds = resync_seconds

    async def feed(self, enqueue: Callable[[str], None]) -> None:
        """Enqueue agents whose liveness or pipeline set changed, and all now and then."""
        await self.view.wait_synced()

        def on_change(change: ViewChange) -> None:
            if change.kind == "alive":
                enqueue(change.name)
            elif change.kind == "pipeline":
                before = change.before.placed_on if change.before is not None else None
                after = change.after.placed_on if change.after is not None else None
                if before != after:
                    for agent in (before, after):
                        if agent is not None:
                            enqueue(agent)

        with self.view.listening(on_change):
            while True:
                for name in self.view.agent_names():
                    enqueue(name)
                await asyncio.sleep(self.resync_seconds)


class AgentController:
    """Reconciles an agent name: phase from its liveness key, pipelines from the placements."""

    name = "agents"
    resync_seconds = 30.0
    workers = 2

    def __init__(self, store: ObjectStore, view: ClusterView) -> None:
        self.store = store
        self.view = view
        self.agents = view.informers.kind(Agent)
        self.sources: list[WatchSource | KeySource] = [
            WatchSource(Agent, own_name),
            AgentTriggers(view, self.resync_seconds),
        ]

    async def reconcile(self, key: str) -> None:
        """Write agent `key`'s phase and pipeline list if they are stale."""
        await self.view.wait_synced()
        alive = self.view.alive(key) is not None
        pipelines = [entry.name for entry in self.view.pipelines_on(key)]
        went_down = False

        def update(agent: Agent) -> Agent | None:
            nonlocal went_down
            status = agent.status
            changed = False
            if alive and status.phase != AgentPhase.READY:
                status.phase = AgentPhase.READY
                status.message = None
                changed = True
            elif not alive and status.phase == AgentPhase.READY:
                status.phase = AgentPhase.NOT_READY
                status.message = LEASE_EXPIRED_MESSAGE
                went_down = changed = True
            if status.pipelines != pipelines:
                status.pipelines = pipelines
                changed = True
            return agent if changed else None

        cached = self.agents.get(key)
        if cached is None or update(cached.model_copy(deep=True)) is None:
            return  # as the cache has it, nothing to write
        went_down = False
        # The write holds only if etcd agrees about the liveness key: a lagging cache must not
        # mark a reconnected agent NotReady (Stale then, and the runner tries again later).
        liveness = self.store.liveness.alive(key) if alive else self.store.liveness.gone(key)
        try:
            await self.store.mutate(Agent, key, update, also=lambda _: [liveness])
        except NotFound:
            return
        if went_down:
            log.warning("agent %s is NotReady: %s", key, LEASE_EXPIRED_MESSAGE)
