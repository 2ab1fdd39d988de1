"""Suspending and resuming triggers by hand, against real etcd and the workflow controller
running whole on its informers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from xene.api.errors import NotFound
from xene.api.pipeline import Pipeline
from xene.api.trigger import Trigger
from xene.api.validation import validate_workflow
from xene.api.workflow import Workflow
from xene.apiserver.controllers.runner import ControllerRunner
from xene.apiserver.controllers.workflows import WorkflowController
from xene.apiserver.services.triggers import TriggerService
from xene.backoff import Backoff
from xene.store.objects import ObjectStore
from xene.store.shared_informers import SharedInformers


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


@pytest.fixture
async def controller(etcd_store: ObjectStore) -> AsyncIterator[None]:
    """The workflow controller running on its informers until the test ends."""
    informers = SharedInformers(etcd_store)
    runner = ControllerRunner(
        WorkflowController(etcd_store, informers), informers, retry_backoff=Backoff(0.01, 0.1)
    )
    tasks = [asyncio.create_task(informers.run()), asyncio.create_task(runner.run())]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def eventually(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + 10.0
    while not await condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def suspended(store: ObjectStore) -> tuple[bool, bool]:
    """What the Trigger says and what the Pipeline (the agent's copy) says."""
    trigger = await store.get(Trigger, "wf.tick")
    pipeline = await store.get(Pipeline, "wf.p")
    return trigger.spec.suspend, pipeline.spec.triggers[0].suspend


async def apply(store: ObjectStore, body: dict) -> None:
    """Store the workflow and wait until the controller has reconciled this generation."""
    workflow = validate_workflow(body)
    try:
        stored = await store.get(Workflow, "wf")
    except NotFound:
        stored = await store.create(workflow)
    else:
        stored.spec = workflow.spec
        stored = await store.update(stored)
    generation = stored.metadata.generation

    async def reconciled() -> bool:
        return (await store.get(Workflow, "wf")).status.observedGeneration == generation

    await eventually(reconciled, f"generation {generation} of the workflow to be reconciled")


async def becomes(store: ObjectStore, expected: tuple[bool, bool]) -> None:
    async def holds() -> bool:
        return await suspended(store) == expected

    await eventually(holds, f"trigger and pipeline to say suspend={expected}")


@pytest.mark.usefixtures("controller")
async def test_a_suspend_by_hand_holds_until_the_workflow_changes_suspend(
    etcd_store: ObjectStore,
) -> None:
    triggers = TriggerService(etcd_store)
    await apply(etcd_store, document())
    await becomes(etcd_store, (False, False))
    await triggers.set_suspended("wf.tick", True)
    await becomes(etcd_store, (True, True))
    generation = (await etcd_store.get(Pipeline, "wf.p")).metadata.generation

    await apply(etcd_store, document(command="echo changed"))
    assert await suspended(etcd_store) == (True, True)  # a re-apply keeps it
    assert (await etcd_store.get(Pipeline, "wf.p")).metadata.generation == generation + 1

    await apply(etcd_store, document(suspend=True, command="echo changed"))
    assert await suspended(etcd_store) == (True, True)
    # The workflow changed `suspend`: the override is gone, so the workflow's next word wins.
    assert (await etcd_store.get(Trigger, "wf.tick")).status.suspendOverride is None
    await apply(etcd_store, document(suspend=False, command="echo changed"))
    assert await suspended(etcd_store) == (False, False)

    # Resuming a trigger the workflow suspends holds in the same way.
    await apply(etcd_store, document(suspend=True))
    await becomes(etcd_store, (True, True))
    resumed = await triggers.set_suspended("wf.tick", False)
    assert resumed.status.suspendOverride is not None
    assert resumed.status.suspendOverride.workflowSuspend is True
    await becomes(etcd_store, (False, False))
    # Suspending it again is what the workflow says anyway: no override is kept.
    back = await triggers.set_suspended("wf.tick", True)
    assert back.status.suspendOverride is None
    same = await triggers.set_suspended("wf.tick", True)
    assert same.metadata.resourceVersion == back.metadata.resourceVersion
    await becomes(etcd_store, (True, True))

    with pytest.raises(NotFound):
        await triggers.set_suspended("wf.nope", True)
