"""Where a pipeline goes: selector matching, capacity and spreading, as pure functions."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from xene.api.labels import format_selector, selector_matches

NO_MATCHING_AGENT = "NoMatchingAgent"
AGENTS_FULL = "AgentsFull"
AGENTS_CORDONED = "AgentsCordoned"


@dataclass(frozen=True, slots=True)
class AgentCandidate:
    """An agent as the scheduler weighs it: labels, capacity, load, liveness, and whether new
    pipelines may be placed on it (False once cordoned; what it has stays)."""

    name: str
    labels: Mapping[str, str]
    capacity: int
    assigned: int
    ready: bool = True
    schedulable: bool = True

    @property
    def has_room(self) -> bool:
        """Below capacity: it accepts one more pipeline."""
        return self.assigned < self.capacity


@dataclass(frozen=True, slots=True)
class Placement:
    """The scheduler's decision for one pipeline: an agent, or why there is none."""

    agent: str | None
    reason: str | None = None
    message: str | None = None

    @property
    def scheduled(self) -> bool:
        """True when an agent was chosen."""
        return self.agent is not None


def choose_agent(
    selector: Mapping[str, str],
    agents: Iterable[AgentCandidate],
    current: str | None = None,
) -> Placement:
    """Place a pipeline with `selector`, now on agent `current` (None: not placed).

    It stays on `current` while that agent is Ready, matches and is not over capacity (its
    `assigned` counts this pipeline), cordoned or not, as Kubernetes leaves a cordoned node's
    pods. Otherwise the Ready, schedulable, matching agent with room and the fewest assigned
    pipelines wins, ties broken by name so the choice is deterministic.
    """
    best: AgentCandidate | None = None
    matching = 0
    cordoned = 0
    for agent in agents:
        if not agent.ready or not selector_matches(selector, agent.labels):
            continue
        if agent.name == current and agent.assigned <= agent.capacity:
            return Placement(agent.name)
        if not agent.schedulable:
            cordoned += 1
            continue
        matching += 1
        if agent.name == current:
            continue  # over capacity (it shrank): move if anyone else has room
        if not agent.has_room:
            continue
        if best is None or (agent.assigned, agent.name) < (best.assigned, best.name):
            best = agent
    if best is not None:
        return Placement(best.name)
    return unplaced(selector, matching, cordoned)


def unplaced(selector: Mapping[str, str], matching: int, cordoned: int = 0) -> Placement:
    """Why nothing fits: no Ready schedulable agent matches (`matching` is 0; `cordoned` count
    the matching ones that are cordoned), or all that match are full."""
    if matching == 0 and cordoned:
        where = f"matching agentSelector {format_selector(selector)} " if selector else ""
        return Placement(
            None,
            AGENTS_CORDONED,
            f"every Ready agent {where}is cordoned (SchedulingDisabled): "
            "uncordon one with `xenectl uncordon AGENT`",
        )
    if matching == 0:
        if selector:
            message = f"no Ready agent matches agentSelector {format_selector(selector)}"
        else:
            message = "no agent is Ready"
        return Placement(None, NO_MATCHING_AGENT, message)
    if selector:
        message = f"every Ready agent matching agentSelector {format_selector(selector)} is full"
    else:
        message = "every Ready agent is full"
    return Placement(None, AGENTS_FULL, message)


SelectorKey = tuple[tuple[str, str], ...]


@dataclass(slots=True)
class _AgentSlot:
    labels: Mapping[str, str]
    capacity: int
    ready: bool
    schedulable: bool = True
    assigned: int = 0


@dataclass(slots=True)
class _SelectorHeap:
    """Ready agents matching one selector, in a heap of (assigned, name) with lazy updates."""

    members: set[str]
    heap: list[tuple[int, str]] = field(default_factory=list)


class PlacementIndex:
    """`choose_agent`'s decisions without scanning every agent per pipeline.

    For each selector in use it keeps the Ready matching agents in a min-heap of
    (assigned, name). Counts change far more often than agents do, so a count change pushes a
    fresh entry and stale ones are dropped when they reach the top; agent changes (joined, left,
    relabelled, readiness) drop the heaps, which are rebuilt on next use. The result is exactly
    `choose_agent(selector, <all agents>, current)`.
    """

    def __init__(self) -> None:
        self._agents: dict[str, _AgentSlot] = {}
        self._heaps: dict[SelectorKey, _SelectorHeap] = {}

    def set_agent(
        self,
        name: str,
        labels: Mapping[str, str],
        capacity: int,
        ready: bool,
        schedulable: bool = True,
    ) -> None:
        """Add or update an agent (its assigned count is kept)."""
        slot = self._agents.get(name)
        if slot is None:
            self._agents[name] = _AgentSlot(dict(labels), capacity, ready, schedulable)
            self._heaps.clear()
            return
        if slot.labels != labels or slot.ready != ready or slot.schedulable != schedulable:
            self._heaps.clear()
        slot.labels, slot.capacity, slot.ready = dict(labels), capacity, ready
        slot.schedulable = schedulable

    def remove_agent(self, name: str) -> None:
        """Forget an agent."""
        if self._agents.pop(name, None) is not None:
            self._heaps.clear()

    def set_assigned(self, name: str, assigned: int) -> None:
        """The number of pipelines placed on (or moving to) agent `name` now."""
        slot = self._agents.get(name)
        if slot is None or slot.assigned == assigned:
            return
        slot.assigned = assigned
        for cached in self._heaps.values():
            if name in cached.members:
                heapq.heappush(cached.heap, (assigned, name))
                if len(cached.heap) > 4 * len(cached.members) + 64:
                    self._rebuild(cached)

    def _rebuild(self, cached: _SelectorHeap) -> None:
        cached.heap = [(self._agents[name].assigned, name) for name in cached.members]
        heapq.heapify(cached.heap)

    def _heap_for(self, selector: Mapping[str, str]) -> _SelectorHeap:
        key: SelectorKey = tuple(sorted(selector.items()))
        cached = self._heaps.get(key)
        if cached is None:
            members = {
                name
                for name, slot in self._agents.items()
                if slot.ready and slot.schedulable and selector_matches(selector, slot.labels)
            }
            cached = self._heaps[key] = _SelectorHeap(members)
            self._rebuild(cached)
        return cached

    def choose(self, selector: Mapping[str, str], current: str | None = None) -> Placement:
        """What `choose_agent(selector, agents, current)` decides for the indexed agents."""
        slot = self._agents.get(current) if current is not None else None
        if (
            slot is not None
            and slot.ready
            and selector_matches(selector, slot.labels)
            and slot.assigned <= slot.capacity
        ):
            return Placement(current)
        cached = self._heap_for(selector)
        if not cached.members:
            cordoned = sum(
                1
                for slot in self._agents.values()
                if slot.ready and not slot.schedulable and selector_matches(selector, slot.labels)
            )
            return unplaced(selector, 0, cordoned)
        heap = cached.heap
        full: list[tuple[int, str]] = []
        chosen: str | None = None
        while heap:
            assigned, name = heap[0]
            slot = self._agents.get(name)
            if slot is None or name not in cached.members or slot.assigned != assigned:
                heapq.heappop(heap)  # stale: a fresher entry for this agent is in the heap
                continue
            if name == current or assigned >= slot.capacity:
                full.append(heapq.heappop(heap))
                continue
            chosen = name
            break
        for entry in full:
            heapq.heappush(heap, entry)
        if chosen is not None:
            return Placement(chosen)
        return unplaced(selector, len(cached.members))
