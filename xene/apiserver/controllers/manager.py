"""Runs the controllers on whichever replica holds the etcd election, and only there."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from xene.apiserver.controllers.base import Controller
from xene.apiserver.controllers.runner import ControllerRunner
from xene.store.election import Election
from xene.store.shared_informers import SharedInformers

log = logging.getLogger(__name__)


class LeadershipLost(Exception):
    """The election lease ran out: stop the controllers and campaign again."""


class ControllerManager:
    """Campaigns for leadership; while leader, runs every controller in one task group."""

    def __init__(
        self,
        informers: SharedInformers,
        election: Election,
        controllers: Sequence[Controller],
    ) -> None:
        self.informers = informers
        self.election = election
        self.controllers = list(controllers)
        self.is_leader = False

    async def run(self) -> None:
        """Run until cancelled, resigning leadership on the way out."""
        try:
            while True:
                await self.election.campaign()
                self.is_leader = True
                log.info(
                    "elected leader; starting controllers: %s",
                    ", ".join(c.name for c in self.controllers),
                )
                try:
                    async with asyncio.TaskGroup() as group:
                        for controller in self.controllers:
                            group.create_task(ControllerRunner(controller, self.informers).run())
                        group.create_task(self._watch_leadership())
                except* LeadershipLost:
                    log.warning("lost leadership; controllers stopped, campaigning again")
                finally:
                    self.is_leader = False
        finally:
            try:
                await asyncio.shield(self.election.resign())
            except Exception as exc:
                log.warning("could not resign leadership cleanly: %s", exc)

    async def _watch_leadership(self) -> None:
        await self.election.leader_lost.wait()
        raise LeadershipLost()
