"""An in-memory view of agents, their liveness and each pipeline's placement, fed by watches.

Every replica keeps one: the scheduler reads counts and candidates from it instead of listing
etcd on each reconcile, and the replica holding an agent's stream learns from it when that
agent's assignments change. Liveness is the key `{prefix}/alive/agents/{name}`, written with the
agent's lease: it exists exactly while the agent's heartbeats keep the lease alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from xene.api.agent import Agent
from xene.api.errors import Gone, XeneError
from xene.api.pipeline import Pipeline, SchedulePhase
from xene.apiserver.services.placement import (
    AgentCandidate,
    Placement,
    PlacementIndex,
    selector_matches,
)
from xene.backoff import Backoff
from xene.store.liveness import AliveEntry
from xene.store.objects import ObjectStore

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


@dataclass
class _Synced:
    pipelines: asyncio.Event = field(default_factory=asyncio.Event)
    agents: asyncio.Event = field(default_factory=asyncio.Event)
    alive: asyncio.Event = field(default_factory=asyncio.Event)


class ClusterView:
    """Pipelines' placement, agents and liveness in memory; `run()` keeps it current."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
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
        self._synced = _Synced()

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
        """True once every watched kind has been listed."""
        return all(
            event.is_set()
            for event in (self._synced.pipelines, self._synced.agents, self._synced.alive)
        )

    async def wait_synced(self) -> None:
        """Return once every watched kind has been listed at least once."""
        await self._synced.pipelines.wait()
        await self._synced.agents.wait()
        await self._synced.alive.wait()

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
        """Take a pipeline just written by this process, unless the view has a newer one."""
        entry = PipelineEntry.of(pipeline)
        current = self._pipelines.get(entry.name)
        if current is None or current.uid != entry.uid or current.revision >= entry.revision:
            return  # deleted, re-created or already newer: the watch knows better
        self._set_pipeline(entry.name, entry, entry.revision)

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
        """Follow pipelines, agents and liveness keys until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._follow(self._follow_pipelines, "pipelines"))
            group.create_task(self._follow(self._follow_agents, "agents"))
            group.create_task(self._follow(self._follow_alive, "agent liveness keys"))

    async def _follow(self, follow: Callable[[], Any], what: str) -> None:
        backoff = Backoff(0.2, 5.0)
        while True:
            try:
                await follow()
            except Gone:
                log.info("cluster view: watch of %s expired; listing again", what)
                backoff.reset()
                continue
            except XeneError as exc:
                delay = backoff.next_delay()
                log.warning(
                    "cluster view: following %s failed (%s); retrying in %.1fs", what, exc, delay
                )
                await asyncio.sleep(delay)

    async def _follow_pipelines(self) -> None:
        items, revision = await self.store.list(Pipeline)
        listed = {p.metadata.name: PipelineEntry.of(p) for p in items}
        for name in list(self._pipelines.keys() - listed.keys()):
            self._set_pipeline(name, None, revision)
        for name, entry in listed.items():
            current = self._pipelines.get(name)
            if current is None or current.revision < entry.revision or current.uid != entry.uid:
                self._set_pipeline(name, entry, entry.revision)
        self._synced.pipelines.set()
        async for event in self.store.watch(Pipeline, from_revision=revision + 1):
            name = event.object.metadata.name
            if event.type == "DELETED":
                self._set_pipeline(name, None, event.revision)
                continue
            current = self._pipelines.get(name)
            if current is not None and current.revision >= event.revision:
                continue  # this process already observed its own newer write
            self._set_pipeline(name, PipelineEntry.of(event.object), event.revision)

    async def _follow_agents(self) -> None:
        items, revision = await self.store.list(Agent)
        listed = {a.metadata.name: AgentEntry.of(a) for a in items}
        for name in list(self._agents.keys() - listed.keys()):
            self._set_agent(name, None, revision)
        for name, entry in listed.items():
            self._set_agent(name, entry, entry.revision)
        self._synced.agents.set()
        async for event in self.store.watch(Agent, from_revision=revision + 1):
            name = event.object.metadata.name
            after = None if event.type == "DELETED" else AgentEntry.of(event.object)
            self._set_agent(name, after, event.revision)

    async def _follow_alive(self) -> None:
        source = self.store.liveness.list_watch()
        listing = await source.list()
        listed = {item.key: item.value for item in listing.items if item.value is not None}
        for name in list(self._alive.keys() - listed.keys()):
            self._set_alive(name, None, listing.revision)
        for name, entry in listed.items():
            self._set_alive(name, entry, entry.revision)
        self._synced.alive.set()
        async for item in source.watch(listing.revision + 1):
            self._set_alive(item.key, item.value, item.revision)
