"""The placement rule: selector, capacity, spreading, stickiness, and why nothing fits."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from xene.api.labels import selector_matches
from xene.apiserver.services.placement import (
    AGENTS_FULL,
    NO_MATCHING_AGENT,
    AgentCandidate,
    choose_agent,
)


def agent(name: str, assigned: int = 0, capacity: int = 2, ready: bool = True, **labels: str):
    return AgentCandidate(name, labels, capacity, assigned, ready)


def test_selector_picks_only_agents_with_every_label() -> None:
    agents = [
        agent("a", os="windows"),
        agent("b", os="linux", arch="arm64"),
        agent("c", os="linux"),
    ]
    assert choose_agent({"os": "linux", "arch": "arm64"}, agents).agent == "b"
    assert choose_agent({"os": "linux"}, agents).agent in {"b", "c"}


def test_empty_selector_matches_any_agent() -> None:
    assert selector_matches({}, {"os": "linux"})
    assert choose_agent({}, [agent("only", os="linux")]).agent == "only"


def test_fewest_assigned_wins_and_ties_break_by_name() -> None:
    agents = [agent("c", assigned=1), agent("b", assigned=0), agent("a", assigned=0)]
    assert choose_agent({}, agents).agent == "a"
    agents = [agent("a", assigned=1), agent("b", assigned=0)]
    assert choose_agent({}, agents).agent == "b"


def test_full_agents_are_skipped() -> None:
    agents = [agent("a", assigned=2, capacity=2), agent("b", assigned=3, capacity=5)]
    assert choose_agent({}, agents).agent == "b"


def test_not_ready_agents_are_never_chosen() -> None:
    placement = choose_agent({"os": "linux"}, [agent("a", ready=False, os="linux")])
    assert placement.agent is None
    assert placement.reason == NO_MATCHING_AGENT
    assert placement.message == "no Ready agent matches agentSelector {os: linux}"


def test_no_agent_at_all() -> None:
    placement = choose_agent({}, [])
    assert (placement.reason, placement.message) == (NO_MATCHING_AGENT, "no agent is Ready")


def test_all_matching_agents_full() -> None:
    agents = [agent("a", assigned=1, capacity=1, os="linux"), agent("b", os="windows")]
    placement = choose_agent({"os": "linux"}, agents)
    assert placement.agent is None
    assert placement.reason == AGENTS_FULL
    assert placement.message == "every Ready agent matching agentSelector {os: linux} is full"


def test_a_placed_pipeline_stays_while_its_agent_is_ready_and_matches() -> None:
    # "b" is busier than "a", but moving a running pipeline only to spread load is churn.
    agents = [agent("a", assigned=0, os="linux"), agent("b", assigned=2, capacity=2, os="linux")]
    assert choose_agent({"os": "linux"}, agents, current="b").agent == "b"


def test_a_placed_pipeline_moves_when_its_agent_dies_or_stops_matching() -> None:
    dead = [agent("a", os="linux"), agent("b", assigned=1, ready=False, os="linux")]
    assert choose_agent({"os": "linux"}, dead, current="b").agent == "a"
    relabelled = [agent("a", os="linux"), agent("b", assigned=1, os="windows")]
    assert choose_agent({"os": "linux"}, relabelled, current="b").agent == "a"


def test_a_pipeline_leaves_an_agent_whose_capacity_shrank_below_its_load() -> None:
    agents = [agent("a", assigned=3, capacity=2), agent("b", assigned=0, capacity=2)]
    assert choose_agent({}, agents, current="a").agent == "b"
    # ...but not when nobody else has room: then it is NotScheduled, AgentsFull.
    agents = [agent("a", assigned=3, capacity=2), agent("b", assigned=2, capacity=2)]
    assert choose_agent({}, agents, current="a").reason == AGENTS_FULL


names = st.text(alphabet="abcdef", min_size=1, max_size=4)


@given(
    st.dictionaries(
        names,
        st.tuples(st.integers(0, 5), st.integers(1, 5), st.booleans(), st.sampled_from(["x", "y"])),
        max_size=8,
    ),
    st.sampled_from([{}, {"zone": "x"}, {"zone": "y"}]),
)
def test_choice_is_a_ready_matching_agent_with_room_and_least_load(pool, selector) -> None:
    agents = [
        AgentCandidate(name, {"zone": zone}, capacity, assigned, ready)
        for name, (assigned, capacity, ready, zone) in pool.items()
    ]
    placement = choose_agent(selector, agents)
    eligible = [
        a for a in agents if a.ready and selector_matches(selector, a.labels) and a.has_room
    ]
    if not eligible:
        assert placement.agent is None and placement.reason in {AGENTS_FULL, NO_MATCHING_AGENT}
        return
    chosen = min(eligible, key=lambda a: (a.assigned, a.name))
    assert placement.agent == chosen.name
    # The same input in any order gives the same answer.
    assert choose_agent(selector, list(reversed(agents))).agent == chosen.name
