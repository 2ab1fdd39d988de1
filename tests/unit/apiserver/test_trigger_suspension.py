"""Suspending and resuming triggers by hand on the in-memory store: the override the trigger
service records, the workflow controller carrying it into the pipelines (from its caches) and
dropping it once the workflow changes `suspend`, and webhook deliveries to a suspended trigger."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.apiserver.world import WEBHOOK_ENVIRON, ServerWorld, eventually
from xene.api.errors import NotFound
from xene.api.pipeline import Pipeline
from xene.api.trigger import Trigger
from xene.api.workflow import Workflow
from xene.apiserver.services.webhooks import signature_of


def workflow(suspend: bool = False, run: str = "true") -> dict[str, Any]:
    return {
        "apiVersion": "xene.dev/v1",
        "kind": "Workflow",
        "metadata": {"name": "wf"},
        "spec": {
            "triggers": [
                {"name": "tick", "type": "cron", "schedule": "* * * * *", "suspend": suspend},
                {"name": "push", "type": "webhook", "secretEnv": "HOOK_SECRET"},
            ],
            "pipelines": {
                "p": {
                    "executor": "process",
                    "triggers": ["tick", "push"],
                    "tasks": {"t": {"steps": [{"name": "s", "run": run}]}},
                }
            },
        },
    }


async def applied(world: ServerWorld, document: dict[str, Any]) -> None:
    """Apply the workflow and let the controller reconcile it from caught-up caches."""
    await world.objects.apply(document)
    await reconciled(world)


async def reconciled(world: ServerWorld) -> None:
    await world.caught_up()
    await world.workflows.reconcile("wf")
    await world.caught_up()


async def suspension(world: ServerWorld, trigger: str = "tick") -> tuple[bool, bool]:
    """What the Trigger says, and what the Pipeline's copy (the agent's) says."""
    stored = await world.store.get(Trigger, f"wf.{trigger}")
    pipeline = await world.store.get(Pipeline, "wf.p")
    (copy,) = [t for t in pipeline.spec.triggers if t.name == trigger]
    return stored.spec.suspend, copy.suspend


async def test_a_suspend_by_hand_holds_across_reapplies_until_the_workflow_changes_suspend(
    world: ServerWorld,
) -> None:
    await applied(world, workflow())
    suspended = await world.triggers.set_suspended("wf.tick", True)
    override = suspended.status.suspendOverride
    assert override is not None and (override.suspend, override.workflowSuspend) == (True, False)
    assert override.setAt == world.clock.now()
    await reconciled(world)
    assert await suspension(world) == (True, True)
    assert await suspension(world, "push") == (False, False)  # the other trigger is untouched

    await applied(world, workflow(run="echo changed"))
    assert await suspension(world) == (True, True)  # a re-apply keeps it

    await applied(world, workflow(suspend=True, run="echo changed"))
    assert await suspension(world) == (True, True)
    # The workflow changed `suspend` itself: the override is gone, so its next word wins.
    assert (await world.store.get(Trigger, "wf.tick")).status.suspendOverride is None
    await applied(world, workflow(suspend=False, run="echo changed"))
    assert await suspension(world) == (False, False)


async def test_a_resume_by_hand_holds_the_same_way_and_a_repeat_writes_nothing(
    world: ServerWorld,
) -> None:
    await applied(world, workflow(suspend=True))
    resumed = await world.triggers.set_suspended("wf.tick", False)
    assert resumed.status.suspendOverride is not None
    assert resumed.status.suspendOverride.workflowSuspend is True
    await reconciled(world)
    assert await suspension(world) == (False, False)
    await applied(world, workflow(suspend=True, run="echo changed"))
    assert await suspension(world) == (False, False)

    # Suspending it again is what the workflow says anyway: no override is kept.
    back = await world.triggers.set_suspended("wf.tick", True)
    assert back.status.suspendOverride is None
    before = world.memory.kv.revision
    same = await world.triggers.set_suspended("wf.tick", True)
    assert same.metadata.resourceVersion == back.metadata.resourceVersion
    assert world.memory.kv.revision == before


async def test_a_trigger_that_is_missing_or_whose_workflow_is_gone_is_not_found(
    world: ServerWorld,
) -> None:
    await applied(world, workflow())
    await world.store.delete(Workflow, "wf")  # its derived objects are not collected yet
    before = world.memory.kv.revision

    with pytest.raises(NotFound, match=r"wf\.nope"):
        await world.triggers.set_suspended("wf.nope", True)
    with pytest.raises(NotFound, match="belongs to workflow 'wf', which no longer exists"):
        await world.triggers.set_suspended("wf.tick", True)

    assert world.memory.kv.revision == before


async def test_a_suspended_webhook_trigger_starts_no_run_until_it_is_resumed(
    world: ServerWorld,
) -> None:
    await applied(world, workflow())
    body = b'{"ref": "refs/heads/main"}'
    secret = WEBHOOK_ENVIRON["HOOK_SECRET"].encode()
    headers = {"X-Hub-Signature-256": signature_of(secret, body), "X-GitHub-Delivery": "d-1"}
    await world.triggers.set_suspended("wf.push", True)

    trigger = await world.webhooks.webhook_trigger("wf", "push")
    refused = await world.webhooks.deliver("wf", "p", trigger, body, headers)

    assert refused.run is None and not refused.created
    assert refused.message == (
        "trigger wf.push is suspended: no run started (xenectl resume wf.push)"
    )
    assert await world.runs.list_runs("wf.p") == []

    await world.triggers.set_suspended("wf.push", False)
    trigger = await world.webhooks.webhook_trigger("wf", "push")
    delivered = await world.webhooks.deliver("wf", "p", trigger, body, headers)
    assert delivered.created and delivered.run is not None
    assert delivered.run.metadata.name == "wf.p.1"


async def test_run_whole_the_controller_carries_a_suspend_into_the_pipeline(
    world: ServerWorld,
) -> None:
    world.run_controllers(world.workflows)
    await world.objects.apply(workflow())

    async def holds(expected: tuple[bool, bool]) -> bool:
        try:
            return await suspension(world) == expected
        except NotFound:
            return False

    await eventually(lambda: holds((False, False)), what="the derived objects")
    await world.triggers.set_suspended("wf.tick", True)
    await eventually(lambda: holds((True, True)), what="the suspend to reach the pipeline")
    await world.triggers.set_suspended("wf.tick", False)
    await eventually(lambda: holds((False, False)), what="the resume to reach the pipeline")
