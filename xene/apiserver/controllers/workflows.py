"""Keeps each Workflow's derived Pipeline and Trigger objects in step with it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from xene.api.derivation import (
    WORKFLOW_LABEL,
    derive_pipelines,
    derive_triggers,
    effective_suspension,
)
from xene.api.errors import AlreadyExists, NotFound
from xene.api.meta import Resource
from xene.api.pipeline import Pipeline
from xene.api.trigger import SuspendOverride, Trigger
from xene.api.workflow import Workflow
from xene.apiserver.controllers.base import KeySource, WatchSource, own_name
from xene.store.informer import Change, Informer
from xene.store.objects import ObjectStore
from xene.store.shared_informers import SharedInformers

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


def _desired_fingerprint(obj: Resource) -> tuple[Any, ...]:
    meta = obj.metadata
    return (
        meta.uid,
        meta.generation,
        tuple(sorted(meta.labels.items())),
        tuple(sorted(meta.annotations.items())),
        tuple(ref.model_dump_json() for ref in meta.ownerReferences),
    )


def desired_state_changed(change: Change[Resource]) -> bool:
    """Whether a change touched what the workflow controller acts on.

    Status writes (placements, agent phases, the workflow's own status) are most writes and
    say nothing the controller acts on; the spec bumps `generation`, so (uid, generation,
    labels, annotations, owners) tell.
    """
    if change.old is None or change.new is None:
        return True
    return _desired_fingerprint(change.old) != _desired_fingerprint(change.new)


def _dropping(stale: SuspendOverride | None) -> Callable[[Trigger], Trigger | None]:
    """A mutation that removes the override `stale` from a Trigger, unless it was set anew."""

    def drop(current: Trigger) -> Trigger | None:
        if current.status.suspendOverride != stale:
            return None  # set anew meanwhile: the next reconcile judges it
        current.status.suspendOverride = None
        return current

    return drop


class WorkflowController:
    """Reconciles a workflow name: derived objects exist exactly for its current entries."""

    name = "workflows"
    resync_seconds = 60.0
    workers = 2

    def __init__(self, store: ObjectStore, informers: SharedInformers) -> None:
        self.store = store
        self.informers = informers
        self.sources: list[WatchSource | KeySource] = [
            WatchSource(Workflow, own_name, desired_state_changed),
            WatchSource(Pipeline, _owning_workflow, desired_state_changed),
            WatchSource(Trigger, _owning_workflow, desired_state_changed),
        ]

    @property
    def workflows(self) -> Informer[Workflow]:
        """The shared cache of workflows (made when first read: on the leader only)."""
        return self.informers.kind(Workflow)

    def _derived(self, kind: type[DerivedT]) -> Informer[DerivedT]:
        cache = self.informers.kind(kind)
        cache.add_index(WORKFLOW_LABEL, _owning_workflow)
        return cache

    async def reconcile(self, key: str) -> None:
        """Create, update and delete derived objects so they match workflow `key`."""
        await self.workflows.wait_synced()
        workflow = self.workflows.get(key)
        stored_triggers = await self._existing(Trigger, key)
        # A suspend or resume by hand lives in the Trigger's status (the workflow is the user's
        # file); it goes into both derived kinds, so the agent running the cron sees it.
        overrides = {
            trigger.spec.name: trigger.status.suspendOverride
            for trigger in stored_triggers
            if trigger.status.suspendOverride is not None
        }
        suspended = effective_suspension(workflow, overrides) if workflow else {}
        pipelines = derive_pipelines(workflow, suspended) if workflow else []
        triggers = derive_triggers(workflow, suspended) if workflow else []
        await self._converge(Pipeline, key, pipelines)
        await self._converge(Trigger, key, triggers, stored_triggers)
        if workflow is not None:
            stale = [t for t in stored_triggers if t.spec.name in overrides.keys() - suspended]
            await self._drop_overrides(stale)
            await self._record_status(workflow, pipelines, triggers)

    async def _existing(self, kind: type[DerivedT], workflow: str) -> list[DerivedT]:
        """The cached objects of `kind` derived from `workflow`."""
        cache = self._derived(kind)
        await cache.wait_synced()
        # Derived names are `{workflow}.{entry}`; the label says which workflow made them.
        return [
            obj
            for obj in cache.indexed(WORKFLOW_LABEL, workflow)
            if obj.metadata.name.startswith(f"{workflow}.")
        ]

    async def _drop_overrides(self, triggers: list[Trigger]) -> None:
        """Forget overrides the workflow has overruled by changing `suspend` itself."""
        for trigger in triggers:
            drop = _dropping(trigger.status.suspendOverride)
            try:
                updated = await self.store.mutate(Trigger, trigger.metadata.name, drop)
                self._observe(updated)
                log.info(
                    "trigger %s: its workflow changed suspend; the override is dropped",
                    trigger.metadata.name,
                )
            except NotFound:
                continue

    async def _converge(
        self,
        kind: type[DerivedT],
        workflow: str,
        desired: list[DerivedT],
        existing: list[DerivedT] | None = None,
    ) -> None:
        if existing is None:
            existing = await self._existing(kind, workflow)
        current_by_name = {obj.metadata.name: obj for obj in existing}
        desired_names = {obj.metadata.name for obj in desired}
        for obj in desired:
            current = current_by_name.get(obj.metadata.name)
            if current is None:
                try:
                    created = await self.store.create(obj)
                    self._observe(created)
                    log.info("created %s %s", kind.kind_name.lower(), obj.metadata.name)
                except AlreadyExists:
                    # Created under another workflow's label or concurrently: adopt it.
                    await self._adopt(kind, obj)
            elif not _same_desired_state(current, obj):
                await self._update_desired(kind, obj)
        for name in current_by_name.keys() - desired_names:
            try:
                await self.store.delete(kind, name)
                log.info("deleted %s %s", kind.kind_name.lower(), name)
            except NotFound:
                pass

    def _observe(self, obj: Resource) -> None:
        """Show a derived object this controller wrote in the cache at once."""
        revision = int(obj.metadata.resourceVersion or 0)
        self.informers.kind(type(obj)).observe(obj.metadata.name, obj, revision)

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

        updated = await self.store.mutate(kind, desired.metadata.name, apply_desired)
        self._observe(updated)
        log.info("updated %s %s", kind.kind_name.lower(), desired.metadata.name)

    async def _record_status(
        self, workflow: Workflow, pipelines: list[Pipeline], triggers: list[Trigger]
    ) -> None:
        pipeline_names = sorted(p.metadata.name for p in pipelines)
        trigger_names = sorted(t.metadata.name for t in triggers)
        status = workflow.status
        if (status.observedGeneration, status.pipelines, status.triggers) == (
            workflow.metadata.generation,
            pipeline_names,
            trigger_names,
        ):
            return  # as read at the start of this reconcile: nothing to write

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
            # `current` is already mutate's private copy.
            current.status.observedGeneration = current.metadata.generation
            current.status.pipelines = pipeline_names
            current.status.triggers = trigger_names
            return current

        try:
            updated = await self.store.mutate(Workflow, workflow.metadata.name, set_status)
        except NotFound:
            return
        revision = int(updated.metadata.resourceVersion or 0)
        self.workflows.observe(updated.metadata.name, updated, revision)
