"""Who depends on whom in a pipeline's task graph (checked by `xene.api.validation.dag_order`)."""

from __future__ import annotations

from collections.abc import Mapping

from xene.api.workflow import TaskSpec


def direct_dependants(tasks: Mapping[str, TaskSpec]) -> dict[str, list[str]]:
    """For each task, the tasks that name it as a dependency, in declaration order."""
    dependants: dict[str, list[str]] = {name: [] for name in tasks}
    for name, task in tasks.items():
        for dependency in task.dependencies:
            if dependency in dependants and name not in dependants[dependency]:
                dependants[dependency].append(name)
    return dependants


def transitive_dependants(dependants: Mapping[str, list[str]], name: str) -> list[str]:
    """Every task that depends on `name` directly or through others, nearest first."""
    seen: list[str] = []
    frontier = list(dependants.get(name, []))
    while frontier:
        current = frontier.pop(0)
        if current in seen:
            continue
        seen.append(current)
        frontier.extend(dependants.get(current, []))
    return seen
