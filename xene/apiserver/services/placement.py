"""Where a pipeline goes: selector matching, capacity and spreading, as pure functions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

NO_MATCHING_AGENT = "NoMatchingAgent"
AGENTS_FULL = "AgentsFull"


@dataclass(frozen=True, slots=True)
class AgentCandidate:
    """An agent as the scheduler weighs it: labels, capacity, load, liveness."""

    name: str
    labels: Mapping[str, str]
    capacity: int
    assigned: int
    ready: bool = True

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


def selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Every key of the selector is a label with the same value (an empty selector matches)."""
    return all(labels.get(key) == value for key, value in selector.items())


def format_selector(selector: Mapping[str, str]) -> str:
    """A selector as users write it in YAML flow style: `{os: linux, arch: arm64}`."""
    return "{" + ", ".join(f"{key}: {value}" for key, value in sorted(selector.items())) + "}"


def choose_agent(
    selector: Mapping[str, str],
    agents: Iterable[AgentCandidate],
    current: str | None = None,
) -> Placement:
    """Place a pipeline with `selector`, now on agent `current` (None: not placed).

    It stays on `current` while that agent is Ready, matches and is not over capacity (its
    `assigned` counts this pipeline). Otherwise the Ready, matching agent with room and the
    fewest assigned pipelines wins, ties broken by name so the choice is deterministic.
    """
    best: AgentCandidate | None = None
    matching = 0
    for agent in agents:
        if not agent.ready or not selector_matches(selector, agent.labels):
            continue
        matching += 1
        if agent.name == current:
            if agent.assigned <= agent.capacity:
                return Placement(agent.name)
            continue  # over capacity (it shrank): move if anyone else has room
        if not agent.has_room:
            continue
        if best is None or (agent.assigned, agent.name) < (best.assigned, best.name):
            best = agent
    if best is not None:
        return Placement(best.name)
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
