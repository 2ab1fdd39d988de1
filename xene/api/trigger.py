"""The Trigger kind: derived from one trigger entry of a Workflow."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from xene.api.meta import Resource, StrictModel
from xene.api.workflow import TriggerSpec


def trigger_object_name(workflow: str, trigger: str) -> str:
    """Name of the Trigger object derived from `trigger` of `workflow`."""
    return f"{workflow}.{trigger}"


class TriggerObjectSpec(TriggerSpec):
    """A trigger entry plus the workflow it belongs to and the pipelines it starts."""

    workflow: str
    pipelines: list[str] = Field(default_factory=list)


class SuspendOverride(StrictModel):
    """A suspend or resume by hand (`xenectl suspend|resume`), and the workflow's own `suspend`
    when it was made: it holds until the workflow itself changes `suspend`."""

    suspend: bool
    workflowSuspend: bool
    setAt: datetime | None = None

    def applies_to(self, workflow_suspend: bool) -> bool:
        """True while the workflow still says what it said when the override was made."""
        return self.workflowSuspend == workflow_suspend


class TriggerStatus(StrictModel):
    """When the trigger last fired and will fire next, and a suspend set by hand."""

    lastFireTime: datetime | None = None
    nextFireTime: datetime | None = None
    lastRun: str | None = None
    missedTicks: int = 0
    suspendOverride: SuspendOverride | None = None


class Trigger(Resource):
    """A cron schedule or webhook that starts runs of its pipelines."""

    kind_name = "Trigger"
    plural = "triggers"

    kind: Literal["Trigger"] = "Trigger"
    spec: TriggerObjectSpec
    status: TriggerStatus = Field(default_factory=TriggerStatus)
