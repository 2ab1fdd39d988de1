"""Task DAG helpers the engine shares with validation: levels and cycles."""

from __future__ import annotations

import pytest

from xene.api.errors import Invalid
from xene.api.graph import dag_order, display_order, find_cycle, find_cycles
from xene.api.workflow import StepSpec, TaskSpec


def _task(*dependencies: str) -> TaskSpec:
    return TaskSpec(
        image="busybox:latest",
        dependencies=list(dependencies),
        steps=[StepSpec(name="s", run="true")],
    )


def test_levels_put_each_task_after_all_its_dependencies() -> None:
    tasks = {
        "checkout": _task(),
        "lint": _task("checkout"),
        "unit": _task("checkout"),
        "package": _task("unit", "lint"),
        "docs": _task(),
        "publish": _task("package", "docs"),
    }
    assert dag_order(tasks) == [
        ["checkout", "docs"],
        ["lint", "unit"],
        ["package"],
        ["publish"],
    ]


def test_levels_follow_the_order_tasks_are_written_in() -> None:
    assert dag_order({"b": [], "a": [], "c": ["b"]}) == [["b", "a"], ["c"]]


def test_an_empty_pipeline_has_no_levels() -> None:
    assert dag_order({}) == []


def test_dag_order_refuses_cycles_and_unknown_tasks() -> None:
    with pytest.raises(Invalid) as caught:
        dag_order({"a": ["b"], "b": ["a"], "c": ["d"]})
    assert [str(e) for e in caught.value.errors] == [
        "tasks.c.dependencies[0]: unknown task 'd'",
        "tasks: dependency cycle a -> b -> a",
    ]


def test_find_cycle_is_deterministic_and_starts_at_the_least_name() -> None:
    graph = {"z": ["y"], "y": ["x"], "x": ["z"], "ok": []}
    assert find_cycle(graph) == ["x", "z", "y", "x"]
    assert find_cycle({"a": ["b"], "b": []}) is None
    assert find_cycle({"self": ["self"]}) == ["self", "self"]


def test_find_cycles_reports_each_cycle_once() -> None:
    graph = {
        "a": ["b"],
        "b": ["a", "c"],
        "c": ["d"],
        "d": ["c"],
        "e": ["a"],
    }
    assert find_cycles(graph) == [["a", "b", "a"], ["c", "d", "c"]]
    assert find_cycles({name: _task(*deps) for name, deps in graph.items()}) == find_cycles(graph)


def test_a_long_chain_needs_no_recursion() -> None:
    chain = {f"t{i}": [f"t{i - 1}"] if i else [] for i in range(5000)}
    assert len(dag_order(chain)) == 5000
    chain["t0"] = ["t4999"]
    assert find_cycle(chain) is not None


def test_display_order_never_refuses_what_it_is_shown() -> None:
    assert display_order({"test": ["build"], "build": [], "lint": []}) == ["build", "lint", "test"]
    # Unknown dependencies are ignored and a cycle's tasks come last, in written order.
    assert display_order({"a": ["b"], "b": ["a"], "c": ["gone"]}) == ["c", "a", "b"]
