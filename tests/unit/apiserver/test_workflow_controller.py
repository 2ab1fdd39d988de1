"""The workflow controller on the in-memory store: derived pipelines and triggers follow their
workflow, from the caches, writing only what changed."""

from __future__ import annotations

from typing import Any

from tests.unit.apiserver.world import ServerWorld, eventually
from xene.api.derivation import WORKFLOW_LABEL
from xene.api.pipeline import Pipeline
from xene.api.trigger import Trigger
from xene.api.workflow import Workflow
from xene.apiserver.controllers.workflows import desired_state_changed
from xene.store.informer import Change


def workflow(
    name: str = "hello", pipelines: tuple[str, ...] = ("build",), run: str = "true"
) -> Any:
    return {
        "apiVersion": "xene.dev/v1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {
            "triggers": [{"name": "nightly", "type": "cron", "schedule": "0 3 * * *"}],
            "pipelines": {
                p: {
                    "triggers": ["nightly"],
                    "executor": "process",
                    "tasks": {"t": {"steps": [{"name": "s", "run": run}]}},
                }
                for p in pipelines
            },
        },
    }


async def names(world: ServerWorld, kind: type[Pipeline] | type[Trigger]) -> list[str]:
    items, _ = await world.store.list(kind)
    return [item.metadata.name for item in items]


async def test_a_workflow_gets_its_pipelines_and_triggers_and_a_status(
    world: ServerWorld,
) -> None:
    await world.objects.apply(workflow(pipelines=("build", "test")))
    await world.caught_up()
    await world.workflows.reconcile("hello")

    assert await names(world, Pipeline) == ["hello.build", "hello.test"]
    assert await names(world, Trigger) == ["hello.nightly"]
    build = await world.store.get(Pipeline, "hello.build")
    assert build.metadata.labels[WORKFLOW_LABEL] == "hello"
    assert [ref.name for ref in build.metadata.ownerReferences] == ["hello"]
    stored = await world.store.get(Workflow, "hello")
    assert stored.status.pipelines == ["hello.build", "hello.test"]
    assert stored.status.triggers == ["hello.nightly"]
    assert stored.status.observedGeneration == stored.metadata.generation


async def test_a_reconcile_with_nothing_to_do_writes_nothing(world: ServerWorld) -> None:
    await world.objects.apply(workflow())
    await world.caught_up()
    await world.workflows.reconcile("hello")
    await world.caught_up()
    before = world.memory.kv.revision

    await world.workflows.reconcile("hello")

    assert world.memory.kv.revision == before


async def test_a_changed_workflow_updates_adds_and_removes_what_it_derives(
    world: ServerWorld,
) -> None:
    await world.objects.apply(workflow(pipelines=("build", "test")))
    await world.caught_up()
    await world.workflows.reconcile("hello")
    await world.caught_up()
    before = await world.store.get(Pipeline, "hello.build")

    await world.objects.apply(workflow(pipelines=("build", "lint"), run="make"))
    await world.caught_up()
    await world.workflows.reconcile("hello")

    assert await names(world, Pipeline) == ["hello.build", "hello.lint"]
    after = await world.store.get(Pipeline, "hello.build")
    assert after.spec.tasks["t"].steps[0].run == "make"
    assert after.metadata.uid == before.metadata.uid
    assert after.metadata.generation == (before.metadata.generation or 1) + 1


async def test_deleting_the_workflow_deletes_what_it_derived(world: ServerWorld) -> None:
    await world.objects.apply(workflow())
    await world.caught_up()
    await world.workflows.reconcile("hello")
    await world.objects.delete(Workflow, "hello")
    await world.caught_up()

    await world.workflows.reconcile("hello")

    assert await names(world, Pipeline) == []
    assert await names(world, Trigger) == []


async def test_a_derived_object_changed_by_hand_is_put_back(world: ServerWorld) -> None:
    await world.objects.apply(workflow())
    await world.caught_up()
    await world.workflows.reconcile("hello")

    def tamper(pipeline: Pipeline) -> Pipeline:
        pipeline.spec.agentSelector = {"os": "plan9"}
        return pipeline

    await world.store.mutate(Pipeline, "hello.build", tamper)
    await world.caught_up()
    await world.workflows.reconcile("hello")

    assert (await world.store.get(Pipeline, "hello.build")).spec.agentSelector == {}


async def test_status_writes_do_not_wake_the_controller_but_spec_changes_do(
    world: ServerWorld,
) -> None:
    await world.objects.apply(workflow())
    await world.caught_up()
    await world.workflows.reconcile("hello")
    await world.caught_up()
    pipeline = world.informers.kind(Pipeline).get("hello.build")
    assert pipeline is not None

    placed = pipeline.model_copy(deep=True)
    placed.status.agent = "a1"
    assert not desired_state_changed(Change("hello.build", pipeline, placed, 99))
    respec = pipeline.model_copy(deep=True)
    respec.metadata.generation = (pipeline.metadata.generation or 1) + 1
    assert desired_state_changed(Change("hello.build", pipeline, respec, 99))
    assert desired_state_changed(Change("hello.build", None, pipeline, 99))
    assert desired_state_changed(Change("hello.build", pipeline, None, 99))


async def test_run_whole_it_converges_on_applies_and_deletes(world: ServerWorld) -> None:
    world.run_controllers(world.workflows)
    await world.objects.apply(workflow(pipelines=("a", "b")))
    await eventually(
        lambda: _equals(names(world, Pipeline), ["hello.a", "hello.b"]), what="pipelines"
    )
    await world.objects.delete(Workflow, "hello")
    await eventually(lambda: _equals(names(world, Pipeline), []), what="pipelines to go")
    await eventually(lambda: _equals(names(world, Trigger), []), what="triggers to go")


async def _equals(value: Any, expected: Any) -> bool:
    return await value == expected
