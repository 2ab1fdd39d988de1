"""Keeps each Workflow's derived Pipeline and Trigger objects in step with it."""

from __future__ import annotations

import logging
from typing import TypeVar

from xene.api.derivation import WORKFLOW_LABEL, derive_pipelines, derive_triggers
from xene.api.errors import AlreadyExists, NotFound
from xene.api.meta import Resource
from xene.api.pipeline import Pipeline
from xene.api.trigger import Trigger
from xene.api.workflow import Workflow
from xene.apiserver.controllers.base import WatchSource, own_name
from xene.store.objects import ObjectStore

log = logging.getLogger(__name__)

DerivedT = TypeVar("DerivedT", Pipeline, Trigger)


def _owning_workflow(obj: Resource) -> list[str]:
    owner = obj.metadata.labels.get(WORKFLOW_LABEL)
    return [owner] if owner else []


def _same_desired_state(current: Resource, desired: Resource) -> bool:
    return (
        current.model_dump(include={"spec"}) == desired.model_dump(include={"spec"})
        and current.metadata.labels == desired.metadata.labels
        and current.metadata.annotations == desired.metadata.annotations
        and current.metadata.ownerReferences == desired.metadata.ownerReferences
    )


class WorkflowController:
    """Reconciles a workflow name: derived objects exist exactly for its current entries."""

    name = "workflows"
    resync_seconds = 60.0

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.sources = [
            WatchSource(Workflow, own_name),
            WatchSource(Pipeline, _owning_workflow),
            WatchSource(Trigger, _owning_workflow),
        ]

    async def reconcile(self, key: str) -> None:
        """Create, update and delete derived objects so they match workflow `key`."""
        try:
            workflow: Workflow | None = await self.store.get(Workflow, key)
        except NotFound:
            workflow = None
        pipelines = derive_pipelines(workflow) if workflow else []
        triggers = derive_triggers(workflow) if workflow else []
        await self._converge(Pipeline, key, pipelines)
        await self._converge(Trigger, key, triggers)
        if workflow is not None:
            await self._record_status(workflow, pipelines, triggers)

    async def _converge(self, kind: type[DerivedT], workflow: str, desired: list[DerivedT]) -> None:
        existing, _ = await self.store.list(kind, label_selector={WORKFLOW_LABEL: workflow})
        current_by_name = {obj.metadata.name: obj for obj in existing}
        desired_names = {obj.metadata.name for obj in desired}
        for obj in desired:
            current = current_by_name.get(obj.metadata.name)
            if current is None:
                try:
                    await self.store.create(obj)
                    log.info("created %s %s", kind.kind_name.lower(), obj.metadata.name)
                except AlreadyExists:
                    # Created under another workflow's label or concurrently: adopt on next pass.
                    await self._adopt(kind, obj)
            elif not _same_desired_state(current, obj):
                await self._update_desired(kind, obj)
        for name in current_by_name.keys() - desired_names:
            try:
                await self.store.delete(kind, name)
                log.info("deleted %s %s", kind.kind_name.lower(), name)
            except NotFound:
                pass

    async def _adopt(self, kind: type[DerivedT], desired: DerivedT) -> None:
        await self._update_desired(kind, desired)

    async def _update_desired(self, kind: type[DerivedT], desired: DerivedT) -> None:
        def apply_desired(current: DerivedT) -> DerivedT | None:
            if _same_desired_state(current, desired):
                return None
            updated = current.model_copy(deep=True)
            updated.spec = desired.spec.model_copy(deep=True)
            updated.metadata.labels = dict(desired.metadata.labels)
            updated.metadata.annotations = dict(desired.metadata.annotations)
            updated.metadata.ownerReferences = list(desired.metadata.ownerReferences)
            return updated

        await self.store.mutate(kind, desired.metadata.name, apply_desired)
        log.info("updated %s %s", kind.kind_name.lower(), desired.metadata.name)

    async def _record_status(
        self, workflow: Workflow, pipelines: list[Pipeline], triggers: list[Trigger]
    ) -> None:
        pipeline_names = sorted(p.metadata.name for p in pipelines)
        trigger_names = sorted(t.metadata.name for t in triggers)

        def set_status(current: Workflow) -> Workflow | None:
            status = current.status
            if (
                status.observedGeneration == current.metadata.generation
                and status.pipelines == pipeline_names
                and status.triggers == trigger_names
            ):
                return None
            # A newer generation was applied meanwhile: its own reconcile records its status.
            if (
                current.metadata.uid != workflow.metadata.uid
                or current.metadata.generation != workflow.metadata.generation
            ):
                return None
            updated = current.model_copy(deep=True)
            updated.status.observedGeneration = current.metadata.generation
            updated.status.pipelines = pipeline_names
            updated.status.triggers = trigger_names
            return updated

        try:
            await self.store.mutate(Workflow, workflow.metadata.name, set_status)
        except NotFound:
            pass
