"""Suspending and resuming triggers by hand, against real etcd and the workflow controller."""

from __future__ import annotations

import pytest

from xene.api.errors import NotFound
from xene.api.pipeline import Pipeline
from xene.api.trigger import Trigger
from xene.api.validation import validate_workflow
from xene.api.workflow import Workflow
from xene.apiserver.controllers.workflows import WorkflowController
from xene.apiserver.services.triggers import TriggerService
from xene.store.objects import ObjectStore


def document(suspend: bool = False, command: str = "true") -> dict:
    return {
        "apiVersion": "xene.dev/v1",
        "kind": "Workflow",
        "metadata": {"name": "wf"},
        "spec": {
            "triggers": [
                {"name": "tick", "type": "cron", "schedule": "* * * * *", "suspend": suspend}
            ],
            "pipelines": {
                "p": {
                    "executor": "process",
                    "triggers": ["tick"],
                    "tasks": {"t": {"steps": [{"name": "s", "run": command}]}},
                }
            },
        },
    }


async def apply(store: ObjectStore, controller: WorkflowController, body: dict) -> None:
    workflow = validate_workflow(body)
    try:
        stored = await store.get(Workflow, "wf")
    except NotFound:
        await store.create(workflow)
    else:
        stored.spec = workflow.spec
        await store.update(stored)
    await controller.reconcile("wf")


async def suspended(store: ObjectStore) -> tuple[bool, bool]:
    """What the Trigger says and what the Pipeline (the agent's copy) says."""
    trigger = await store.get(Trigger, "wf.tick")
    pipeline = await store.get(Pipeline, "wf.p")
    return trigger.spec.suspend, pipeline.spec.triggers[0].suspend


async def test_a_suspend_by_hand_holds_until_the_workflow_changes_suspend(
    etcd_store: ObjectStore,
) -> None:
    controller = WorkflowController(etcd_store)
    triggers = TriggerService(etcd_store)
    await apply(etcd_store, controller, document())
    await triggers.set_suspended("wf.tick", True)
    await controller.reconcile("wf")
    assert await suspended(etcd_store) == (True, True)
    generation = (await etcd_store.get(Pipeline, "wf.p")).metadata.generation

    await apply(etcd_store, controller, document(command="echo changed"))
    assert await suspended(etcd_store) == (True, True)  # a re-apply keeps it
    assert (await etcd_store.get(Pipeline, "wf.p")).metadata.generation == generation + 1

    await apply(etcd_store, controller, document(suspend=True, command="echo changed"))
    assert await suspended(etcd_store) == (True, True)
    # The workflow changed `suspend`: the override is gone, so the workflow's next word wins.
    assert (await etcd_store.get(Trigger, "wf.tick")).status.suspendOverride is None
    await apply(etcd_store, controller, document(suspend=False, command="echo changed"))
    assert await suspended(etcd_store) == (False, False)

    # Resuming a trigger the workflow suspends holds in the same way.
    await apply(etcd_store, controller, document(suspend=True))
    resumed = await triggers.set_suspended("wf.tick", False)
    assert resumed.status.suspendOverride is not None
    assert resumed.status.suspendOverride.workflowSuspend is True
    await controller.reconcile("wf")
    assert await suspended(etcd_store) == (False, False)
    # Suspending it again is what the workflow says anyway: no override is kept.
    back = await triggers.set_suspended("wf.tick", True)
    assert back.status.suspendOverride is None
    same = await triggers.set_suspended("wf.tick", True)
    assert same.metadata.resourceVersion == back.metadata.resourceVersion

    with pytest.raises(NotFound):
        await triggers.set_suspended("wf.nope", True)
