"""Places every Pipeline on a Ready agent that matches its agentSelector and has room.

The leader is the only writer of placements, and it decides one pipeline at a time under a
lock from an in-memory view (ClusterView) it updates with its own writes at once, so two
decisions never count the same free slot. A reconcile whose decision matches the stored
status reads and writes nothing in etcd.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from xene.api.errors import NotFound
from xene.api.labels import selector_matches
from xene.api.meta import utc_now
from xene.api.pipeline import Pipeline, SchedulePhase
from xene.apiserver.controllers.base import KeySource, WatchSource
from xene.apiserver.services.cluster_view import ClusterView, PipelineEntry, ViewChange
from xene.apiserver.services.placement import Placement
from xene.store.objects import ObjectStore

log = logging.getLogger(__name__)


def _same_decision(entry: PipelineEntry, placement: Placement) -> bool:
    if placement.scheduled:
        return entry.placed_on == placement.agent
    return (
        entry.phase == SchedulePhase.NOT_SCHEDULED
        and entry.agent is None
        and entry.reason == placement.reason
        and entry.message == placement.message
    )


def apply_placement(pipeline: Pipeline, placement: Placement, now: datetime) -> Pipeline | None:
    """The pipeline with its status set to `placement`, or None when it already says so."""
    status = pipeline.status
    if placement.scheduled:
        if status.phase == SchedulePhase.SCHEDULED and status.agent == placement.agent:
            return None
        status.phase = SchedulePhase.SCHEDULED
        status.agent = placement.agent
        status.reason = None
        status.message = None
        status.scheduledAt = now
    else:
        if (
            status.phase == SchedulePhase.NOT_SCHEDULED
            and status.agent is None
            and (status.reason, status.message) == (placement.reason, placement.message)
        ):
            return None
        status.phase = SchedulePhase.NOT_SCHEDULED
        status.agent = None
        status.reason = placement.reason
        status.message = placement.message
        status.scheduledAt = None
    # The new agent (if any) reports its own phase once it runs the pipeline.
    status.agentPhase = None
    status.agentMessage = None
    return pipeline


class SchedulingTriggers:
    """Pipelines whose placement may have to change, as the cluster view changes."""

    def __init__(self, view: ClusterView, resync_seconds: float) -> None:
        self.view = view
        self.resync_seconds = resync_seconds

    async def feed(self, enqueue: Callable[[str], None]) -> None:
        """Enqueue affected pipelines on every change, and all of them now and then."""
        await self.view.wait_synced()

        def on_change(change: ViewChange) -> None:
            if change.kind == "pipeline":
                enqueue(change.name)
                freed = change.before.placed_on if change.before is not None else None
                if freed is not None and (change.after is None or change.after.placed_on != freed):
                    for name in self.view.unscheduled_matching(freed):
                        enqueue(name)
                return
            if (
                change.kind == "agent"
                and change.before is not None
                and change.after is not None
                and (change.before.labels, change.before.capacity, change.before.unschedulable)
                == (change.after.labels, change.after.capacity, change.after.unschedulable)
            ):
                return  # a status write (heartbeat, pipeline count): placement is unaffected
            # An agent appeared, changed, died or came back: its pipelines may have to move,
            # and unscheduled pipelines it matches may fit on it now.
            for entry in self.view.pipelines_on(change.name):
                enqueue(entry.name)
            if self.view.is_ready(change.name):
                for name in self.view.unscheduled_matching(change.name):
                    enqueue(name)

        with self.view.listening(on_change):
            while True:
                for name in self.view.pipeline_names():
                    enqueue(name)
                await asyncio.sleep(self.resync_seconds)


class SchedulerController:
    """Reconciles a pipeline name: Scheduled on a fitting agent, or NotScheduled with a reason."""

    name = "scheduler"
    resync_seconds = 30.0
    # Decisions are in-memory and exclusive; the workers overlap the etcd writes.
    workers = 16

    def __init__(
        self,
        store: ObjectStore,
        view: ClusterView,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.view = view
        self.clock = clock
        self.sources: list[WatchSource | KeySource] = [
            SchedulingTriggers(view, self.resync_seconds)
        ]

    async def reconcile(self, key: str) -> None:
        """Keep pipeline `key` where it is if still fitting, else place it anew."""
        await self.view.wait_synced()
        # Deciding and reserving run without an await in between, so no other reconcile can
        # decide in the middle; the reservation makes the slot count as taken while the write
        # is in flight, and writes of many pipelines proceed at once.
        entry = self.view.pipeline(key)
        if entry is None:
            return
        current = entry.placed_on
        placement = self.view.choose(entry.selector, current)
        if _same_decision(entry, placement):
            return
        self.view.reserve(key, current, placement.agent)
        now = self.clock()
        wrote = False

        def place(pipeline: Pipeline) -> Pipeline | None:
            nonlocal wrote
            status = pipeline.status
            stored_on = status.agent if status.phase == SchedulePhase.SCHEDULED else None
            if stored_on != current:
                wrote = False
                return None  # the view is behind: decide again once it has caught up
            placed = apply_placement(pipeline, placement, now)
            wrote = placed is not None
            return placed

        try:
            updated = await self.store.mutate(Pipeline, key, place)
            self.view.observe_pipeline(updated)
        except NotFound:
            return
        finally:
            self.view.release(key)
        if wrote:
            self._log_decision(key, entry, current, placement)

    def _log_decision(
        self,
        name: str,
        entry: PipelineEntry,
        previous: str | None,
        placement: Placement,
    ) -> None:
        if placement.agent is None:
            log.info(
                "pipeline %s not scheduled (%s): %s", name, placement.reason, placement.message
            )
        elif previous is None:
            log.info("pipeline %s scheduled on agent %s", name, placement.agent)
        else:
            log.info(
                "pipeline %s moved from agent %s to %s (%s)",
                name,
                previous,
                placement.agent,
                self._why_moved(entry, previous),
            )

    def _why_moved(self, entry: PipelineEntry, previous: str) -> str:
        candidate = self.view.candidate(previous)
        if candidate is None:
            return f"agent {previous} is gone"
        if not candidate.ready:
            return f"agent {previous} is not Ready"
        if not selector_matches(entry.selector, candidate.labels):
            return f"agent {previous} no longer matches agentSelector"
        if not candidate.schedulable:
            return f"agent {previous} is cordoned and over its capacity of {candidate.capacity}"
        return f"agent {previous} is over its capacity of {candidate.capacity}"
