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
from xene.apiserver.services.runs import (
    RUNS_BY_AGENT,
    RUNS_BY_PIPELINE,
    RunService,
    current_attempt,
    index_runs,
    pipeline_of,
    start_payload,
)
from xene.store.commands import new_command
from xene.store.informer import Informer
from xene.store.kv import TxnPart
from xene.store.objects import ObjectStore

log = logging.getLogger(__name__)


def _unfinished(obj: Resource) -> list[str]:
    assert isinstance(obj, PipelineRun)
    return [] if obj.status.phase.finished else [obj.metadata.name]


class DispatchTriggers:
    """Unfinished runs to look at again when placements or agents' liveness change."""

    def __init__(self, view: ClusterView) -> None:
        self.view = view

    async def feed(self, enqueue: Callable[[str], None]) -> None:
        """Enqueue the unfinished runs of pipelines that moved and of agents that changed."""
        runs = index_runs(self.view.informers.kind(PipelineRun))
        await self.view.wait_synced()

        def on_change(change: ViewChange) -> None:
            if change.kind == "pipeline":
                before = change.before.placed_on if change.before is not None else None
                after = change.after.placed_on if change.after is not None else None
                if before == after:
                    return
                affected = runs.indexed(RUNS_BY_PIPELINE, change.name)
            elif change.kind == "agent" and change.before is not None and change.after is not None:
                return  # a heartbeat or label update: readiness did not change
            else:
                affected = runs.indexed(RUNS_BY_AGENT, change.name)
            for run in affected:
                if not run.status.phase.finished:
                    enqueue(run.metadata.name)

        with self.view.listening(on_change):
            await asyncio.Future()


class RunDispatcher:
    """Reconciles a run name: dispatched to its pipeline's agent, or requeued if that is lost."""

    name = "run-dispatcher"
    resync_seconds = 30.0
    workers = 2

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
            DispatchTriggers(view),
        ]

    @property
    def run_cache(self) -> Informer[PipelineRun]:
        """The shared cache of runs (made when first read: on the leader only)."""
        return index_runs(self.view.informers.kind(PipelineRun))

    @property
    def pipelines(self) -> Informer[Pipeline]:
        """The shared cache of pipelines."""
        return self.view.informers.kind(Pipeline)

    async def reconcile(self, key: str) -> None:
        """Make one step for run `key`: interrupt, cancel, or dispatch it."""
        await self.view.wait_synced()
        await self.run_cache.wait_synced()
        run = self.run_cache.get(key)
        if run is None:
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
        # The view may lag behind etcd: the interruption holds only while the key is gone.
        await self.runs.interrupt(
            run.metadata.name, agent, f"agent {agent} lost", only_if_gone=True
        )

    async def _dispatch(self, run: PipelineRun) -> None:
        name = run.metadata.name
        entry = self.view.pipeline(pipeline_of(run))
        if entry is None:
            return  # the pipeline is gone: run GC cancels the run
        agent = entry.placed_on
        if agent is None or not self.view.is_ready(agent):
            return  # the scheduler places the pipeline; that change brings the run back here
        pipeline = self.pipelines.get(entry.name)
        if pipeline is None:
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
            self.run_cache.observe(name, updated, int(updated.metadata.resourceVersion or 0))
            log.info(
                "run %s attempt %d dispatched to agent %s", name, current_attempt(updated), agent
            )
