"""Hands Pending runs to their pipeline's agent, and takes them back when that agent is lost.

A Pending run whose Pipeline is Scheduled on a Ready agent gets `status.agent`, a new
RunAttempt and a StartRun command for that agent, all in one etcd transaction: the replica
holding the agent's stream delivers the command (at least once; the agent dedups by run and
attempt). A run assigned to an agent whose liveness key is gone is interrupted: its attempt
ends with "Interrupted: ...", and it is Pending again, to be dispatched anew. A cancel
requested while no agent holds the run ends it at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from xene.api.errors import NotFound
from xene.api.meta import Resource, utc_now
from xene.api.pipeline import Pipeline
from xene.api.run import PipelineRun, RunAttempt, RunPhase
from xene.apiserver.controllers.base import KeySource, WatchSource
from xene.apiserver.services.cluster_view import ClusterView, ViewChange
from xene.apiserver.services.runs import RunService, current_attempt, pipeline_of, start_payload
from xene.store.commands import new_command
from xene.store.kv import TxnPart
from xene.store.objects import ObjectStore

log = logging.getLogger(__name__)


def _unfinished(obj: Resource) -> list[str]:
    assert isinstance(obj, PipelineRun)
    return [] if obj.status.phase.finished else [obj.metadata.name]


class DispatchTriggers:
    """Unfinished runs to look at again when placements or agents' liveness change."""

    def __init__(self, store: ObjectStore, view: ClusterView) -> None:
        self.store = store
        self.view = view

    async def feed(self, enqueue: Callable[[str], None]) -> None:
        """Enqueue the unfinished runs of pipelines that moved and of agents that changed."""
        await self.view.wait_synced()
        changed: asyncio.Queue[ViewChange] = asyncio.Queue()

        def on_change(change: ViewChange) -> None:
            if change.kind == "pipeline":
                before = change.before.placed_on if change.before is not None else None
                after = change.after.placed_on if change.after is not None else None
                if before == after:
                    return
            elif change.kind == "agent" and change.before is not None and change.after is not None:
                return  # a heartbeat or label update: readiness did not change
            changed.put_nowait(change)

        with self.view.listening(on_change):
            while True:
                change = await changed.get()
                # Coalesce a burst (an agent died: its lease and all its pipelines change).
                await asyncio.sleep(0.05)
                pipelines: set[str] = set()
                agents: set[str] = set()
                for item in [change, *self._drain(changed)]:
                    (pipelines if item.kind == "pipeline" else agents).add(item.name)
                try:
                    runs, _ = await self.store.list(PipelineRun)
                except Exception as exc:  # the periodic resync catches up
                    log.warning("run dispatcher: listing runs failed: %s", exc)
                    continue
                for run in runs:
                    if run.status.phase.finished:
                        continue
                    if pipeline_of(run) in pipelines or run.status.agent in agents:
                        enqueue(run.metadata.name)

    @staticmethod
    def _drain(queue: asyncio.Queue[ViewChange]) -> list[ViewChange]:
        items = []
        while not queue.empty():
            items.append(queue.get_nowait())
        return items


class RunDispatcher:
    """Reconciles a run name: dispatched to its pipeline's agent, or requeued if that is lost."""

    name = "run-dispatcher"
    resync_seconds = 30.0

    def __init__(
        self,
        store: ObjectStore,
        view: ClusterView,
        runs: RunService,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.view = view
        self.runs = runs
        self.clock = clock
        self.sources: list[WatchSource | KeySource] = [
            WatchSource(PipelineRun, _unfinished),
            DispatchTriggers(store, view),
        ]

    async def reconcile(self, key: str) -> None:
        """Make one step for run `key`: interrupt, cancel, or dispatch it."""
        await self.view.wait_synced()
        try:
            run = await self.store.get(PipelineRun, key)
        except NotFound:
            return
        status = run.status
        if status.phase.finished:
            return
        if status.agent is not None:
            await self._check_agent(run, status.agent)
            return
        if status.cancelRequested:
            await self.runs.request_cancel(key, "cancelled before an agent took the run")
            return
        await self._dispatch(run)

    async def _check_agent(self, run: PipelineRun, agent: str) -> None:
        if self.view.alive(agent) is not None:
            return
        # The view may lag behind etcd: only the key itself says the agent is gone.
        if await self.store.liveness.get(agent) is not None:
            return
        await self.runs.interrupt(run.metadata.name, agent, f"agent {agent} lost")

    async def _dispatch(self, run: PipelineRun) -> None:
        name = run.metadata.name
        entry = self.view.pipeline(pipeline_of(run))
        if entry is None:
            return  # the pipeline is gone: run GC cancels the run
        agent = entry.placed_on
        if agent is None or not self.view.is_ready(agent):
            return  # the scheduler places the pipeline; that change brings the run back here
        try:
            pipeline = await self.store.get(Pipeline, entry.name)
        except NotFound:
            return
        now = self.clock()

        def assign(stored: PipelineRun) -> PipelineRun | None:
            status = stored.status
            if status.phase != RunPhase.PENDING or status.agent is not None:
                return None
            if status.cancelRequested:
                return None
            status.agent = agent
            status.attempts.append(
                RunAttempt(number=current_attempt(stored) + 1, agent=agent, startedAt=now)
            )
            status.message = None
            return stored

        def command(stored: PipelineRun) -> Sequence[TxnPart]:
            start = new_command("StartRun", name, start_payload(stored, pipeline))
            return [self.store.commands.sending(agent, start)]

        try:
            updated = await self.store.mutate(PipelineRun, name, assign, also=command)
        except NotFound:
            return
        if updated.status.agent == agent and updated.metadata.resourceVersion != (
            run.metadata.resourceVersion
        ):
            log.info(
                "run %s attempt %d dispatched to agent %s", name, current_attempt(updated), agent
            )
