"""An in-memory view of agents, their liveness and each pipeline's placement, fed by the
shared informers' caches of pipelines, agents and liveness keys.

Every replica keeps one: the scheduler reads counts and candidates from it instead of listing
etcd on each reconcile, and the replica holding an agent's stream learns from it when that
agent's assignments change. An agent's liveness key (store/liveness.py) exists exactly while
the agent's heartbeats keep its lease alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from xene.api.agent import Agent
from xene.api.labels import selector_matches
from xene.api.pipeline import Pipeline, SchedulePhase
from xene.apiserver.services.placement import AgentCandidate, Placement, PlacementIndex
from xene.store.informer import Change
from xene.store.liveness import AliveEntry
from xene.store.shared_informers import SharedInformers

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PipelineEntry:
    """What the scheduler and the agent streams need of one Pipeline."""

    name: str
    uid: str
    generation: int
    revision: int
    selector: Mapping[str, str]
    phase: SchedulePhase
    agent: str | None
    reason: str | None = None
    message: str | None = None

    @property
    def placed_on(self) -> str | None:
        """The agent the pipeline is scheduled on, if any."""
        return self.agent if self.phase == SchedulePhase.SCHEDULED else None

    @classmethod
    def of(cls, pipeline: Pipeline) -> PipelineEntry:
        """The entry for a stored Pipeline."""
        status = pipeline.status
        return cls(
            name=pipeline.metadata.name,
            uid=pipeline.metadata.uid or "",
            generation=pipeline.metadata.generation or 1,
            revision=int(pipeline.metadata.resourceVersion or 0),
            selector=dict(pipeline.spec.agentSelector),
            phase=status.phase,
            agent=status.agent,
            reason=status.reason,
            message=status.message,
        )


@dataclass(frozen=True, slots=True)
class AgentEntry:
    """What the scheduler needs of one Agent object."""

    name: str
    labels: Mapping[str, str]
    capacity: int
    revision: int
    unschedulable: bool = False

    @classmethod
    def of(cls, agent: Agent) -> AgentEntry:
        """The entry for a stored Agent."""
        return cls(
            name=agent.metadata.name,
            labels=dict(agent.metadata.labels),
            capacity=agent.spec.capacity,
            revision=int(agent.metadata.resourceVersion or 0),
            unschedulable=agent.spec.unschedulable,
        )


@dataclass(frozen=True, slots=True)
class ViewChange:
    """One change of the view; `before`/`after` are entries (None: absent)."""

    kind: Literal["pipeline", "agent", "alive"]
    name: str
    before: Any
    after: Any
    revision: int


Listener = Callable[[ViewChange], None]


class ClusterView:
    """Pipelines' placement, agents and liveness in memory; `run()` keeps it current."""

    def __init__(self, informers: SharedInformers) -> None:
        self.informers = informers
        self._pipeline_cache = informers.kind(Pipeline)
        self._agent_cache = informers.kind(Agent)
        self._liveness = informers.liveness()
        self._pipelines: dict[str, PipelineEntry] = {}
        self._by_agent: dict[str, set[str]] = {}
        self._unscheduled: set[str] = set()
        self._agents: dict[str, AgentEntry] = {}
        self._alive: dict[str, AliveEntry] = {}
        self._listeners: list[Listener] = []
        self._agent_listeners: dict[str, list[Listener]] = {}
        # Placements decided but not yet written: name -> (from agent, to agent). They count
        # on the target (and no longer on the source) so concurrent decisions see the slot taken.
        self._pending: dict[str, tuple[str | None, str | None]] = {}
        self._incoming: dict[str, int] = {}
        self._outgoing: dict[str, int] = {}
        self._index = PlacementIndex()
        self._following = asyncio.Event()

    # -- queries --------------------------------------------------------------------------

    def pipeline(self, name: str) -> PipelineEntry | None:
        """The pipeline's entry, or None when it does not exist."""
        return self._pipelines.get(name)

    def pipeline_names(self) -> list[str]:
        """Every pipeline known."""
        return sorted(self._pipelines)

    def pipelines_on(self, agent: str) -> list[PipelineEntry]:
        """The pipelines scheduled on `agent`, by name."""
        return [self._pipelines[name] for name in sorted(self._by_agent.get(agent, ()))]

    def assigned_count(self, agent: str) -> int:
        """How many pipelines are scheduled on `agent`, counting placements being written."""
        return (
            len(self._by_agent.get(agent, ()))
            + self._incoming.get(agent, 0)
            - self._outgoing.get(agent, 0)
        )

    def choose(self, selector: Mapping[str, str], current: str | None) -> Placement:
        """The scheduler's decision for a pipeline with `selector`, now on `current`."""
        return self._index.choose(selector, current)

    def reserve(self, name: str, source: str | None, target: str | None) -> None:
        """Count pipeline `name` as moving from `source` to `target` until its write is seen."""
        self.release(name)
        self._pending[name] = (source, target)
        for agent, counts in ((source, self._outgoing), (target, self._incoming)):
            if agent is not None:
                counts[agent] = counts.get(agent, 0) + 1
                self._index.set_assigned(agent, self.assigned_count(agent))

    def release(self, name: str) -> None:
        """Drop a reservation (its write landed, failed or was not needed)."""
        pending = self._pending.pop(name, None)
        if pending is None:
            return
        for agent, counts in ((pending[0], self._outgoing), (pending[1], self._incoming)):
            if agent is not None:
                left = counts[agent] - 1
                if left:
                    counts[agent] = left
                else:
                    del counts[agent]
                self._index.set_assigned(agent, self.assigned_count(agent))

    def unscheduled(self) -> list[PipelineEntry]:
        """Pipelines not scheduled on any agent."""
        return [self._pipelines[name] for name in sorted(self._unscheduled)]

    def agent(self, name: str) -> AgentEntry | None:
        """The agent's entry, or None without an Agent object."""
        return self._agents.get(name)

    def agent_names(self) -> list[str]:
        """Every agent with an Agent object or a liveness key."""
        return sorted(self._agents.keys() | self._alive.keys())

    def alive(self, name: str) -> AliveEntry | None:
        """The agent's liveness key, or None when its lease is gone."""
        return self._alive.get(name)

    def is_ready(self, name: str) -> bool:
        """Registered and holding a live lease: the scheduler may use it."""
        return name in self._agents and name in self._alive

    def candidate(self, name: str) -> AgentCandidate | None:
        """The agent as the scheduler weighs it, or None when it has no Agent object."""
        entry = self._agents.get(name)
        if entry is None:
            return None
        return AgentCandidate(
            entry.name,
            entry.labels,
            entry.capacity,
            self.assigned_count(name),
            ready=name in self._alive,
            schedulable=not entry.unschedulable,
        )

    def candidates(self) -> list[AgentCandidate]:
        """Every registered agent as the scheduler weighs it."""
        return [c for name in self._agents if (c := self.candidate(name)) is not None]

    def unscheduled_matching(self, agent: str) -> list[str]:
        """Unscheduled pipelines whose selector `agent` satisfies (they may fit there now)."""
        entry = self._agents.get(agent)
        if entry is None:
            return []
        return sorted(
            name
            for name in self._unscheduled
            if selector_matches(self._pipelines[name].selector, entry.labels)
        )

    @property
    def synced(self) -> bool:
        """True once `run()` follows the caches and every one has been listed."""
        caches = (self._pipeline_cache, self._agent_cache, self._liveness)
        return self._following.is_set() and all(cache.synced for cache in caches)

    async def wait_synced(self) -> None:
        """Return once `run()` follows the caches and every one has been listed."""
        await self._following.wait()
        for cache in (self._pipeline_cache, self._agent_cache, self._liveness):
            await cache.wait_synced()

    @contextlib.contextmanager
    def listening(self, listener: Listener, *, agent: str | None = None) -> Iterator[None]:
        """Call `listener` (synchronously, cheaply) on every change while in the block.

        With `agent`, only on changes that concern that agent: its Agent object, its liveness
        key, and pipelines placed on it before or after the change. A thousand agent streams
        each hearing of every pipeline change made each change cost a thousand calls.
        """
        listeners = (
            self._listeners if agent is None else self._agent_listeners.setdefault(agent, [])
        )
        listeners.append(listener)
        try:
            yield
        finally:
            listeners.remove(listener)
            if agent is not None and not listeners:
                self._agent_listeners.pop(agent, None)

    # -- updates --------------------------------------------------------------------------

    def observe_pipeline(self, pipeline: Pipeline) -> None:
        """Take a pipeline just written by this process, unless the cache has gone past it."""
        revision = int(pipeline.metadata.resourceVersion or 0)
        self._pipeline_cache.observe(pipeline.metadata.name, pipeline, revision)

    def _emit(self, change: ViewChange) -> None:
        listeners = list(self._listeners)
        if self._agent_listeners:
            if change.kind == "pipeline":
                agents = {
                    entry.placed_on
                    for entry in (change.before, change.after)
                    if entry is not None and entry.placed_on is not None
                }
            else:
                agents = {change.name}
            for agent in sorted(agents):
                listeners.extend(self._agent_listeners.get(agent, ()))
        for listener in listeners:
            try:
                listener(change)
            except Exception:
                log.exception("cluster view listener failed on %s %s", change.kind, change.name)

    def _set_pipeline(self, name: str, entry: PipelineEntry | None, revision: int) -> None:
        before = self._pipelines.get(name)
        if before == entry:
            return
        pending = self._pending.get(name)
        if pending is not None and (
            entry is None
            or (before is not None and before.uid != entry.uid)
            or entry.placed_on == pending[1]
        ):
            self.release(name)  # the reserved placement is now stored (or moot)
        if before is not None:
            if before.placed_on is not None:
                on_agent = self._by_agent.get(before.placed_on)
                if on_agent is not None:
                    on_agent.discard(name)
                    if not on_agent:
                        del self._by_agent[before.placed_on]
            self._unscheduled.discard(name)
        if entry is None:
            self._pipelines.pop(name, None)
        else:
            self._pipelines[name] = entry
            if entry.placed_on is not None:
                self._by_agent.setdefault(entry.placed_on, set()).add(name)
            else:
                self._unscheduled.add(name)
        for agent in {
            e.placed_on for e in (before, entry) if e is not None and e.placed_on is not None
        }:
            self._index.set_assigned(agent, self.assigned_count(agent))
        self._emit(ViewChange("pipeline", name, before, entry, revision))

    def _index_agent(self, name: str) -> None:
        entry = self._agents.get(name)
        if entry is None:
            self._index.remove_agent(name)
            return
        self._index.set_agent(
            name,
            entry.labels,
            entry.capacity,
            name in self._alive,
            schedulable=not entry.unschedulable,
        )
        self._index.set_assigned(name, self.assigned_count(name))

    def _set_agent(self, name: str, entry: AgentEntry | None, revision: int) -> None:
        before = self._agents.get(name)
        if before == entry:
            return
        if entry is None:
            self._agents.pop(name, None)
        else:
            self._agents[name] = entry
        self._index_agent(name)
        self._emit(ViewChange("agent", name, before, entry, revision))

    def _set_alive(self, name: str, entry: AliveEntry | None, revision: int) -> None:
        before = self._alive.get(name)
        if before == entry:
            return
        if entry is None:
            self._alive.pop(name, None)
        else:
            self._alive[name] = entry
        self._index_agent(name)
        self._emit(ViewChange("alive", name, before, entry, revision))

    # -- feeding --------------------------------------------------------------------------

    async def run(self) -> None:
        """Follow the shared caches of pipelines, agents and liveness keys until cancelled."""
        with contextlib.ExitStack() as following:
            # Replayed: whatever the caches hold already arrives as additions first.
            following.enter_context(self._pipeline_cache.listening(self._on_pipeline, replay=True))
            following.enter_context(self._agent_cache.listening(self._on_agent, replay=True))
            following.enter_context(self._liveness.listening(self._on_alive, replay=True))
            self._following.set()
            try:
                await asyncio.Future()
            finally:
                self._following.clear()

    def _on_pipeline(self, change: Change[Pipeline]) -> None:
        entry = PipelineEntry.of(change.new) if change.new is not None else None
        self._set_pipeline(change.key, entry, change.revision)

    def _on_agent(self, change: Change[Agent]) -> None:
        entry = AgentEntry.of(change.new) if change.new is not None else None
        self._set_agent(change.key, entry, change.revision)

    def _on_alive(self, change: Change[AliveEntry]) -> None:
        self._set_alive(change.key, change.new, change.revision)
