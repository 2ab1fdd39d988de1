"""A pipeline's task graph: ordering, cycle finding and who depends on whom.

The one home of these rules: validation refuses cycles with `find_cycles`, the plan compiler
orders tasks with `dag_order`, the engine skips dependants with `transitive_dependants`, and
`xenectl` lists tasks with `display_order`. A graph is given either as task specs (anything with
a `dependencies` list) or as plain `name -> [dependencies]` mappings.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Protocol

from xene.api.errors import FieldError, Invalid
from xene.api.paths import join_path
from xene.api.suggestions import unknown


class HasDependencies(Protocol):
    """A task as the graph sees it."""

    @property
    def dependencies(self) -> Sequence[str]: ...


TaskGraph = Mapping[str, HasDependencies] | Mapping[str, Sequence[str]]


def dependencies_of(tasks: TaskGraph) -> dict[str, list[str]]:
    """The graph as `name -> [dependencies]`, in the order written."""
    graph: dict[str, list[str]] = {}
    for name, task in tasks.items():
        graph[name] = list(task if isinstance(task, Sequence) else task.dependencies)
    return graph


def find_cycles(tasks: TaskGraph) -> list[list[str]]:
    """Every dependency cycle a depth-first search meets, as `[a, b, c, a]` from its least name.

    Tasks are visited in name order and dependencies in the order written, so the result is the
    same on every call. Dependencies on unknown tasks are ignored here.
    """
    graph = dependencies_of(tasks)
    state: dict[str, str] = {}
    cycles: list[list[str]] = []
    found: set[tuple[str, ...]] = set()
    for start in sorted(graph):
        if start in state:
            continue
        state[start] = "active"
        path = [start]
        stack = [iter(graph[start])]
        while stack:
            for dependency in stack[-1]:
                if dependency not in graph:
                    continue
                seen = state.get(dependency)
                if seen is None:
                    state[dependency] = "active"
                    path.append(dependency)
                    stack.append(iter(graph[dependency]))
                    break
                if seen == "active":
                    loop = path[path.index(dependency) :]
                    first = loop.index(min(loop))
                    loop = loop[first:] + loop[:first]
                    if tuple(loop) not in found:
                        found.add(tuple(loop))
                        cycles.append([*loop, loop[0]])
            else:
                state[path.pop()] = "done"
                stack.pop()
    return cycles


def find_cycle(tasks: TaskGraph) -> list[str] | None:
    """The first dependency cycle found (`[a, b, a]`: a depends on b depends on a), or None."""
    cycles = find_cycles(tasks)
    return cycles[0] if cycles else None


def unknown_dependency_problem(dependency: str, task: str, names: Sequence[str]) -> str | None:
    """Why `dependency` of `task` names no task of the graph (with the closest name), or None."""
    if dependency in names:
        return None
    return unknown("task", dependency, [name for name in names if name != task])


def dag_order(tasks: TaskGraph) -> list[list[str]]:
    """Tasks in levels: each task's dependencies all sit in earlier levels; order as written.

    Raises Invalid when a dependency names an unknown task or the dependencies form a cycle.
    """
    graph = dependencies_of(tasks)
    names = list(graph)
    errors = [
        FieldError(join_path("tasks", name, "dependencies", index), problem)
        for name, dependencies in graph.items()
        for index, dependency in enumerate(dependencies)
        if (problem := unknown_dependency_problem(dependency, name, names)) is not None
    ]
    errors += [
        FieldError("tasks", f"dependency cycle {' -> '.join(cycle)}")
        for cycle in find_cycles(graph)
    ]
    if errors:
        raise Invalid(errors)
    # Kahn's algorithm; a task's level is one past the deepest of its dependencies.
    waiting = {name: len(set(dependencies)) for name, dependencies in graph.items()}
    dependants: dict[str, list[str]] = {name: [] for name in graph}
    for name, dependencies in graph.items():
        for dependency in set(dependencies):
            dependants[dependency].append(name)
    depth: dict[str, int] = {}
    ready = deque(name for name, count in waiting.items() if count == 0)
    while ready:
        name = ready.popleft()
        depth[name] = 1 + max((depth[d] for d in graph[name]), default=-1)
        for dependant in dependants[name]:
            waiting[dependant] -= 1
            if waiting[dependant] == 0:
                ready.append(dependant)
    levels: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for name in graph:  # the order tasks are written in, within each level
        levels[depth[name]].append(name)
    return levels


def display_order(tasks: TaskGraph) -> list[str]:
    """Every task after its dependencies, ties in written order; unlike `dag_order` it never
    refuses: unknown dependencies are ignored and the tasks of a cycle come last."""
    graph = dependencies_of(tasks)
    remaining = list(graph)
    placed: list[str] = []
    done: set[str] = set()
    while remaining:
        ready = [
            name
            for name in remaining
            if all(dependency in done or dependency not in graph for dependency in graph[name])
        ]
        if not ready:
            placed.extend(remaining)
            break
        placed.extend(ready)
        done.update(ready)
        remaining = [name for name in remaining if name not in done]
    return placed


def direct_dependants(tasks: TaskGraph) -> dict[str, list[str]]:
    """For each task, the tasks that name it as a dependency, in declaration order."""
    graph = dependencies_of(tasks)
    dependants: dict[str, list[str]] = {name: [] for name in graph}
    for name, dependencies in graph.items():
        for dependency in dependencies:
            if dependency in dependants and name not in dependants[dependency]:
                dependants[dependency].append(name)
    return dependants


def transitive_dependants(dependants: Mapping[str, list[str]], name: str) -> list[str]:
    """Every task that depends on `name` directly or through others, nearest first."""
    seen: list[str] = []
    frontier = deque(dependants.get(name, []))
    while frontier:
        current = frontier.popleft()
        if current in seen:
            continue
        seen.append(current)
        frontier.extend(dependants.get(current, []))
    return seen
