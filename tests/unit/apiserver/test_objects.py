"""Reading any kind and writing Workflows, on the in-memory store: apply, compare-and-swap,
read-only kinds (a saved listing applies back unchanged), label selectors, readiness."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.unit.apiserver.world import ServerWorld
from xene.api.errors import Conflict, Invalid, NotFound, Unavailable
from xene.api.pipeline import Pipeline
from xene.api.selectors import parse_selector
from xene.api.workflow import Workflow
from xene.apiserver.services.health import HealthService
from xene.apiserver.services.objects import ReadOnlyKind

HELLO: dict[str, Any] = {
    "apiVersion": "xene.dev/v1",
    "kind": "Workflow",
    "metadata": {"name": "hello"},
    "spec": {
        "pipelines": {
            "build": {
                "executor": "process",
                "tasks": {"t": {"steps": [{"name": "s", "run": "true"}]}},
            }
        }
    },
}


def changed(run: str) -> dict[str, Any]:
    document = copy.deepcopy(HELLO)
    document["spec"]["pipelines"]["build"]["tasks"]["t"]["steps"][0]["run"] = run
    return document


async def test_apply_creates_configures_or_leaves_unchanged(world: ServerWorld) -> None:
    action, created = await world.objects.apply(HELLO)
    assert action == "created" and created.metadata.generation == 1
    action, same = await world.objects.apply(HELLO)
    assert action == "unchanged"
    assert same.metadata.resourceVersion == created.metadata.resourceVersion
    action, configured = await world.objects.apply(changed("make"))
    assert action == "configured" and configured.metadata.generation == 2


async def test_apply_with_an_old_resource_version_is_a_conflict(world: ServerWorld) -> None:
    _, created = await world.objects.apply(HELLO)
    await world.objects.apply(changed("make"))
    stale = changed("make test")
    stale["metadata"]["resourceVersion"] = created.metadata.resourceVersion
    with pytest.raises(Conflict):
        await world.objects.apply(stale)
    stored = await world.store.get(Workflow, "hello")
    assert stored.spec.pipelines["build"].tasks["t"].steps[0].run == "make"


async def test_derived_kinds_are_read_only_and_bad_documents_write_nothing(
    world: ServerWorld,
) -> None:
    with pytest.raises(ReadOnlyKind):
        world.objects.check_writable(Pipeline)
    with pytest.raises(ReadOnlyKind):
        await world.objects.delete(Pipeline, "x")
    before = world.memory.kv.revision
    with pytest.raises(Invalid):
        await world.objects.apply({"apiVersion": "xene.dev/v1", "kind": "Workflow"})
    assert world.memory.kv.revision == before
    with pytest.raises(NotFound):
        await world.objects.get(Workflow, "missing")


async def test_readiness_needs_the_store(world: ServerWorld) -> None:
    health = HealthService(world.store)
    await health.check_ready()
    await world.memory.kv.close()
    with pytest.raises(Unavailable):
        await health.check_ready()


async def test_a_derived_object_applied_as_stored_is_unchanged_and_an_edit_is_refused(
    world: ServerWorld,
) -> None:
    await world.objects.apply(HELLO)
    await world.caught_up()
    await world.workflows.reconcile("hello")
    saved = (await world.store.get(Pipeline, "hello.build")).to_dict()  # as `get -o yaml`
    before = world.memory.kv.revision

    action, stored = await world.objects.apply(saved)
    assert (action, stored.metadata.name) == ("unchanged", "hello.build")

    edited = copy.deepcopy(saved)
    edited["metadata"]["labels"]["team"] = "ops"
    with pytest.raises(Invalid):
        await world.objects.apply(edited)
    assert world.memory.kv.revision == before


async def test_lists_filter_by_selector_expressions(world: ServerWorld) -> None:
    for name, team in (("a", "ops"), ("b", "dev"), ("c", None)):
        document = copy.deepcopy(HELLO)
        document["metadata"] = {"name": name, "labels": {"team": team} if team else {}}
        await world.objects.apply(document)

    async def names(selector: str) -> list[str]:
        items, _ = await world.objects.list(Workflow, parse_selector(selector))
        return [item.metadata.name for item in items]

    assert await names("team in (ops,dev)") == ["a", "b"]
    assert await names("team!=ops") == ["b", "c"]
    assert await names("!team") == ["c"]
