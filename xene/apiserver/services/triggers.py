"""Suspending and resuming triggers by hand (`xenectl suspend|resume`).

The Trigger object gets the new `spec.suspend` and, in its status, a SuspendOverride recording
the workflow's own `suspend` at that moment. The workflow controller carries the override into
the Pipeline objects (so the agent serving the cron restarts it suspended or not) and keeps it
across re-applies of the workflow, until the workflow itself changes `suspend`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from xene.api.errors import NotFound
from xene.api.meta import utc_now
from xene.api.trigger import SuspendOverride, Trigger
from xene.api.workflow import Workflow
from xene.store.objects import ObjectStore

log = logging.getLogger(__name__)


class TriggerService:
    """Operator actions on Trigger objects."""

    def __init__(self, store: ObjectStore, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self.clock = clock

    async def _workflow_suspend(self, trigger: Trigger) -> bool:
        """What the trigger's workflow itself says about `suspend`."""
        try:
            workflow = await self.store.get(Workflow, trigger.spec.workflow)
        except NotFound:
            raise NotFound(
                f"trigger '{trigger.metadata.name}' belongs to workflow "
                f"'{trigger.spec.workflow}', which no longer exists"
            ) from None
        for entry in workflow.spec.triggers:
            if entry.name == trigger.spec.name:
                return entry.suspend
        raise NotFound(
            f"workflow '{trigger.spec.workflow}' no longer has trigger '{trigger.spec.name}'"
        )

    async def set_suspended(self, name: str, suspend: bool) -> Trigger:
        """Suspend (True) or resume (False) trigger `name`; a no-op when it already is so."""
        workflow_suspend = await self._workflow_suspend(await self.store.get(Trigger, name))
        now = self.clock()

        # An override equal to the workflow's own value is no override at all.
        wanted = (
            None
            if suspend == workflow_suspend
            else SuspendOverride(suspend=suspend, workflowSuspend=workflow_suspend, setAt=now)
        )

        def update(trigger: Trigger) -> Trigger | None:
            current = trigger.status.suspendOverride
            if trigger.spec.suspend == suspend and _same_override(current, wanted):
                return None  # already so: keep the time it was first set
            trigger.spec.suspend = suspend
            trigger.status.suspendOverride = wanted
            return trigger

        updated = await self.store.mutate(Trigger, name, update)
        log.info("trigger %s %s by hand", name, "suspended" if suspend else "resumed")
        return updated


def _same_override(current: SuspendOverride | None, wanted: SuspendOverride | None) -> bool:
    if current is None or wanted is None:
        return current is wanted
    return (current.suspend, current.workflowSuspend) == (wanted.suspend, wanted.workflowSuspend)
