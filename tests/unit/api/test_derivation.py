"""The Pipeline and Trigger objects derived from a Workflow."""

from __future__ import annotations

from tests.unit.api.manifests import workflow_document
from xene.api.derivation import (
    DESCRIPTION_ANNOTATION,
    PIPELINE_LABEL,
    TRIGGER_LABEL,
    WORKFLOW_LABEL,
    derive_pipelines,
    derive_triggers,
    effective_suspension,
)
from xene.api.meta import OwnerReference
from xene.api.pipeline import Pipeline
from xene.api.trigger import SuspendOverride, Trigger
from xene.api.validation import validate_workflow
from xene.api.workflow import Workflow


def _workflow() -> Workflow:
    document = workflow_document()
    document["spec"]["pipelines"]["build"]["description"] = "Fetch and test"
    workflow = validate_workflow(document)
    workflow.metadata.uid = "uid-1"
    return workflow


def test_one_pipeline_object_per_pipeline_entry() -> None:
    workflow = _workflow()
    pipelines = derive_pipelines(workflow)
    assert [p.metadata.name for p in pipelines] == ["hello.build", "hello.lint"]
    build = pipelines[0]
    assert isinstance(build, Pipeline)
    assert build.metadata.labels == {
        "team": "ci",
        WORKFLOW_LABEL: "hello",
        PIPELINE_LABEL: "build",
    }
    assert build.metadata.annotations == {DESCRIPTION_ANNOTATION: "Fetch and test"}
    assert build.metadata.ownerReferences == [
        OwnerReference(kind="Workflow", name="hello", uid="uid-1")
    ]
    assert build.spec.workflow == "hello"
    assert build.spec.pipeline == "build"
    assert build.spec.triggers == workflow.spec.triggers  # both entries, in full
    assert build.spec.agentSelector == {"os": "linux"}
    assert build.spec.tasks == workflow.spec.pipelines["build"].tasks
    lint = pipelines[1]
    assert [t.name for t in lint.spec.triggers] == ["on-push"]
    assert lint.spec.executor == "process"
    assert lint.metadata.annotations == {}


def test_one_trigger_object_per_trigger_entry_naming_its_pipelines() -> None:
    triggers = derive_triggers(_workflow())
    assert [t.metadata.name for t in triggers] == ["hello.every-5-min", "hello.on-push"]
    cron, webhook = triggers
    assert isinstance(cron, Trigger)
    assert cron.spec.workflow == "hello"
    assert cron.spec.pipelines == ["hello.build"]
    assert cron.spec.schedule == "*/5 * * * *"
    assert webhook.spec.pipelines == ["hello.build", "hello.lint"]
    assert webhook.spec.secretEnv == "HELLO_WEBHOOK_SECRET"
    assert webhook.metadata.labels == {
        "team": "ci",
        WORKFLOW_LABEL: "hello",
        TRIGGER_LABEL: "on-push",
    }
    assert webhook.metadata.ownerReferences == [
        OwnerReference(kind="Workflow", name="hello", uid="uid-1")
    ]


def test_a_workflow_label_cannot_claim_another_workflow() -> None:
    workflow = _workflow()
    workflow.metadata.labels[WORKFLOW_LABEL] = "someone-else"
    for obj in [*derive_pipelines(workflow), *derive_triggers(workflow)]:
        assert obj.metadata.labels[WORKFLOW_LABEL] == "hello"


def test_derived_objects_do_not_share_state_with_the_workflow() -> None:
    workflow = _workflow()
    [build, _] = derive_pipelines(workflow)
    build.spec.tasks["test"].steps[0].run = "changed"
    build.spec.triggers[0].schedule = "@daily"
    assert workflow.spec.pipelines["build"].tasks["test"].steps[0].run == "cat src.txt"
    assert workflow.spec.triggers[0].schedule == "*/5 * * * *"


def test_derivation_is_deterministic_and_serialisable() -> None:
    workflow = _workflow()
    first = [o.to_dict() for o in [*derive_pipelines(workflow), *derive_triggers(workflow)]]
    second = [o.to_dict() for o in [*derive_pipelines(workflow), *derive_triggers(workflow)]]
    assert first == second
    assert Pipeline.model_validate(first[0]) == derive_pipelines(workflow)[0]
    assert Trigger.model_validate(first[2]) == derive_triggers(workflow)[0]


def test_an_unused_trigger_still_gets_an_object_with_no_pipelines() -> None:
    document = workflow_document()
    document["spec"]["triggers"].append({"name": "nightly", "type": "cron", "schedule": "@daily"})
    triggers = derive_triggers(validate_workflow(document))
    assert triggers[-1].metadata.name == "hello.nightly"
    assert triggers[-1].spec.pipelines == []


def test_a_suspend_by_hand_reaches_both_derived_kinds_until_the_workflow_changes_suspend() -> None:
    workflow = _workflow()
    by_hand = {"every-5-min": SuspendOverride(suspend=True, workflowSuspend=False)}
    suspended = effective_suspension(workflow, by_hand)
    assert suspended == {"every-5-min": True}
    [build, _] = derive_pipelines(workflow, suspended)
    assert {t.name: t.suspend for t in build.spec.triggers} == {
        "every-5-min": True,
        "on-push": False,
    }
    cron, webhook = derive_triggers(workflow, suspended)
    assert (cron.spec.suspend, webhook.spec.suspend) == (True, False)
    # The workflow itself now says suspend: true; a later `false` there must win too.
    workflow.spec.triggers[0].suspend = True
    assert effective_suspension(workflow, by_hand) == {}
    # An override of a trigger the workflow no longer has is ignored.
    assert (
        effective_suspension(
            workflow, {"gone": SuspendOverride(suspend=True, workflowSuspend=False)}
        )
        == {}
    )
    # Without overrides nothing changes: derivation is what the workflow says.
    assert derive_pipelines(workflow, {}) == derive_pipelines(workflow)
