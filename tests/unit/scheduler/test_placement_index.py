"""The indexed placement decides exactly as the reference rule, through any sequence of changes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from xene.apiserver.services.placement import (
    AGENTS_CORDONED,
    AGENTS_FULL,
    NO_MATCHING_AGENT,
    AgentCandidate,
    PlacementIndex,
    choose_agent,
)

NAMES = [f"agent-{i}" for i in range(6)]
LABELS = st.dictionaries(st.sampled_from(["os", "zone"]), st.sampled_from(["a", "b"]), max_size=2)

set_agent = st.tuples(
    st.just("set"),
    st.sampled_from(NAMES),
    LABELS,
    st.integers(min_value=0, max_value=4),
    st.booleans(),
    st.booleans(),
)
remove_agent = st.tuples(st.just("remove"), st.sampled_from(NAMES))
set_assigned = st.tuples(
    st.just("assigned"), st.sampled_from(NAMES), st.integers(min_value=0, max_value=6)
)
choose = st.tuples(st.just("choose"), LABELS, st.one_of(st.none(), st.sampled_from(NAMES)))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(set_agent, remove_agent, set_assigned, choose), max_size=60))
def test_index_matches_choose_agent(operations: list[tuple]) -> None:
    index = PlacementIndex()
    agents: dict[str, AgentCandidate] = {}
    for operation in operations:
        kind = operation[0]
        if kind == "set":
            _, name, labels, capacity, ready, schedulable = operation
            assigned = agents[name].assigned if name in agents else 0
            agents[name] = AgentCandidate(name, labels, capacity, assigned, ready, schedulable)
            index.set_agent(name, labels, capacity, ready, schedulable)
        elif kind == "remove":
            agents.pop(operation[1], None)
            index.remove_agent(operation[1])
        elif kind == "assigned":
            _, name, assigned = operation
            if name in agents:
                old = agents[name]
                agents[name] = AgentCandidate(
                    name, old.labels, old.capacity, assigned, old.ready, old.schedulable
                )
            index.set_assigned(name, assigned)
        else:
            _, selector, current = operation
            expected = choose_agent(selector, agents.values(), current)
            assert index.choose(selector, current) == expected


def test_spreads_and_reports_like_the_rule() -> None:
    index = PlacementIndex()
    index.set_agent("a", {"os": "linux"}, 2, True)
    index.set_agent("b", {"os": "linux"}, 2, True)
    index.set_assigned("a", 1)
    assert index.choose({"os": "linux"}).agent == "b"
    index.set_assigned("b", 2)
    assert index.choose({"os": "linux"}).agent == "a"
    index.set_assigned("a", 2)
    assert index.choose({"os": "linux"}).reason == AGENTS_FULL
    assert index.choose({"os": "windows"}).reason == NO_MATCHING_AGENT
    # Going back down is seen at once.
    index.set_assigned("b", 0)
    assert index.choose({"os": "linux"}).agent == "b"


def test_a_cordoned_agent_keeps_what_it_has_and_gets_nothing_new() -> None:
    index = PlacementIndex()
    index.set_agent("a", {"os": "linux"}, 5, True, schedulable=False)
    index.set_assigned("a", 1)
    assert index.choose({"os": "linux"}, current="a").agent == "a"
    refused = index.choose({"os": "linux"})
    assert refused.reason == AGENTS_CORDONED
    assert "cordoned" in (refused.message or "")
    assert "xenectl uncordon" in (refused.message or "")
    index.set_agent("b", {"os": "linux"}, 5, True)
    index.set_assigned("b", 4)
    assert index.choose({"os": "linux"}).agent == "b"  # fuller, but schedulable
    index.set_agent("a", {"os": "linux"}, 5, True, schedulable=True)
    assert index.choose({"os": "linux"}).agent == "a"
