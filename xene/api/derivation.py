"""The Pipeline and Trigger objects a Workflow stands for; the server's controller stores them."""

from __future__ import annotations

from collections.abc import Mapping

from xene.api.meta import ObjectMeta, OwnerReference
from xene.api.pipeline import Pipeline, PipelineObjectSpec, pipeline_object_name
from xene.api.trigger import SuspendOverride, Trigger, TriggerObjectSpec, trigger_object_name
from xene.api.workflow import TriggerSpec, Workflow

WORKFLOW_LABEL = "xene.dev/workflow"
PIPELINE_LABEL = "xene.dev/pipeline"
TRIGGER_LABEL = "xene.dev/trigger"
DESCRIPTION_ANNOTATION = "xene.dev/description"


def _owner(workflow: Workflow) -> OwnerReference:
    return OwnerReference(
        kind=Workflow.kind_name, name=workflow.metadata.name, uid=workflow.metadata.uid
    )


def _metadata(
    workflow: Workflow, name: str, labels: dict[str, str], description: str | None
) -> ObjectMeta:
    # Xene's own labels come last so a workflow label cannot hide which workflow owns the object.
    return ObjectMeta(
        name=name,
        labels={**workflow.metadata.labels, WORKFLOW_LABEL: workflow.metadata.name, **labels},
        annotations={DESCRIPTION_ANNOTATION: description} if description else {},
        ownerReferences=[_owner(workflow)],
    )


def effective_suspension(
    workflow: Workflow, overrides: Mapping[str, SuspendOverride]
) -> dict[str, bool]:
    """`suspend` of each trigger entry whose override by hand still holds (by entry name).

    An override holds while the workflow says what it said when the override was made: a
    re-apply keeps a `xenectl suspend`, a workflow that changes `suspend` itself wins.
    """
    entries = {trigger.name: trigger for trigger in workflow.spec.triggers}
    return {
        name: override.suspend
        for name, override in overrides.items()
        if name in entries and override.applies_to(entries[name].suspend)
    }


def _with_suspension(trigger: TriggerSpec, suspended: Mapping[str, bool]) -> TriggerSpec:
    copy = trigger.model_copy(deep=True)
    if trigger.name in suspended:
        copy.suspend = suspended[trigger.name]
    return copy


def derive_pipelines(
    workflow: Workflow, suspended: Mapping[str, bool] | None = None
) -> list[Pipeline]:
    """One Pipeline object per pipeline entry, carrying the full specs of the triggers it names
    (with `suspended`: the suspend state set by hand, by trigger entry name)."""
    suspended = suspended or {}
    triggers = {trigger.name: trigger for trigger in workflow.spec.triggers}
    pipelines = []
    for name, entry in workflow.spec.pipelines.items():
        spec = PipelineObjectSpec(
            workflow=workflow.metadata.name,
            pipeline=name,
            triggers=[
                _with_suspension(triggers[trigger], suspended)
                for trigger in entry.triggers
                if trigger in triggers
            ],
            executor=entry.executor,
            agentSelector=dict(entry.agentSelector),
            env=dict(entry.env),
            sharedContainer=(
                entry.sharedContainer.model_copy(deep=True) if entry.sharedContainer else None
            ),
            timeout=entry.timeout,
            tasks={task: spec.model_copy(deep=True) for task, spec in entry.tasks.items()},
        )
        pipelines.append(
            Pipeline(
                metadata=_metadata(
                    workflow,
                    pipeline_object_name(workflow.metadata.name, name),
                    {PIPELINE_LABEL: name},
                    entry.description,
                ),
                spec=spec,
            )
        )
    return pipelines


def derive_triggers(
    workflow: Workflow, suspended: Mapping[str, bool] | None = None
) -> list[Trigger]:
    """One Trigger object per trigger entry, naming the Pipeline objects it starts (with
    `suspended`: the suspend state set by hand, by trigger entry name)."""
    suspended = suspended or {}
    derived = []
    for written in workflow.spec.triggers:
        trigger = _with_suspension(written, suspended)
        users = [
            pipeline_object_name(workflow.metadata.name, name)
            for name, entry in workflow.spec.pipelines.items()
            if trigger.name in entry.triggers
        ]
        spec = TriggerObjectSpec(
            **trigger.model_dump(), workflow=workflow.metadata.name, pipelines=users
        )
        derived.append(
            Trigger(
                metadata=_metadata(
                    workflow,
                    trigger_object_name(workflow.metadata.name, trigger.name),
                    {TRIGGER_LABEL: trigger.name},
                    trigger.description,
                ),
                spec=spec,
            )
        )
    return derived
