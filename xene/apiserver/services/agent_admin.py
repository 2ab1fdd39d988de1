"""Operator actions on Agent objects: cordon, uncordon, and removing an agent that is gone."""

from __future__ import annotations

import logging

from xene.api.agent import Agent
from xene.api.errors import Conflict, Stale
from xene.store.objects import ObjectStore

log = logging.getLogger(__name__)


class AgentAdmin:
    """What `xenectl cordon|uncordon|delete agent` asks of the server."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    async def set_unschedulable(self, name: str, unschedulable: bool) -> Agent:
        """Cordon (True) or uncordon (False) agent `name`: whether new pipelines may go to it.

        What is placed on it stays (its cron triggers and runs go on), as with a cordoned node.
        """

        def update(agent: Agent) -> Agent | None:
            if agent.spec.unschedulable == unschedulable:
                return None
            agent.spec.unschedulable = unschedulable
            return agent

        updated = await self.store.mutate(Agent, name, update)
        log.info("agent %s %s", name, "cordoned" if unschedulable else "uncordoned")
        return updated

    async def delete(self, name: str) -> Agent:
        """Remove a NotReady agent's object and its undelivered commands; Conflict with a hint
        while the agent is connected (it would register again at once)."""
        agent = await self.store.get(Agent, name)
        # The liveness key, not the status: the status may lag behind a lease that expired.
        if await self.store.liveness.get(name) is not None:
            raise self._ready(name)
        undelivered = await self.store.commands.list(name)
        # One transaction at the version just read, while the agent has no liveness key: an
        # agent that reconnects in between is neither deleted nor stripped of its commands.
        try:
            deleted = await self.store.delete(
                Agent,
                name,
                resource_version=agent.metadata.resourceVersion,
                also=[self.store.liveness.gone(name), self.store.commands.clearing(name)],
            )
        except Stale:
            raise self._ready(name) from None
        log.info("agent %s deleted (%d undelivered command(s) dropped)", name, len(undelivered))
        return deleted

    def _ready(self, name: str) -> Conflict:
        return Conflict(
            f"agent {name} is Ready (its xene-agent is connected): stop that xene-agent "
            f"and delete it once it is NotReady; to keep new pipelines off it meanwhile, "
            f"run `xenectl cordon {name}`"
        )
