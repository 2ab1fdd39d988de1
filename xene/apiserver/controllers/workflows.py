"""Keeps each Workflow's derived Pipeline and Trigger objects in step with it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from xene.api.derivation import (
    WORKFLOW_LABEL,
    derive_pipelines,
    derive_triggers,
    effective_suspension,
)
from xene.api.errors import AlreadyExists, Gone, NotFound, Unavailable
from xene.api.meta import Resource
from xene.api.pipeline import Pipeline
from xene.api.trigger import Trigger
from xene.api.workflow import Workflow
from xene.apiserver.controllers.base import KeySource, WatchSource, own_name
from xene.backoff import Backoff
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


def _desired_fingerprint(obj: Resource) -> tuple[Any, ...]:
    meta = obj.metadata
    return (
        meta.uid,
        meta.generation,
        tuple(sorted(meta.labels.items())),
        tuple(sorted(meta.annotations.items())),
        tuple(ref.model_dump_json() for ref in meta.ownerReferences),
    )


class SpecChanges:
    """Keys of objects of one kind whose desired part changed, that appeared or were deleted.

    Status writes (placements, agent phases, the workflow's own status) are most writes and
    say nothing the workflow controller acts on; waking it for each of them made a reconcile
    per placement. The spec bumps `generation`, so (uid, generation, labels, annotations,
    owners) tells. The controller `remember`s what it wrote itself, so its own creates and
    updates do not wake it again. Every `resync_seconds` all keys are queued anyway.
    """

    def __init__(
        self,
        store: ObjectStore,
        kind: type[Resource],
        keys_of: Callable[[Resource], list[str]],
        resync_seconds: float | None = None,
    ) -> None:
        self.store = store
        self.kind = kind
        self.keys_of = keys_of
        self.resync_seconds = resync_seconds
        self._seen: dict[str, tuple[Any, ...]] = {}
        self._keys: dict[str, list[str]] = {}

    def remember(self, obj: Resource) -> None:
        """This object was just written by the controller: its watch event needs no reconcile."""
        self._changed(obj)

    def _changed(self, obj: Resource) -> bool:
        name = obj.metadata.name
        fingerprint = _desired_fingerprint(obj)
        self._keys[name] = self.keys_of(obj)
        if self._seen.get(name) == fingerprint:
            return False
        self._seen[name] = fingerprint
        return True

    def _forget(self, name: str) -> None:
        self._seen.pop(name, None)
        self._keys.pop(name, None)

    async def feed(self, enqueue: Callable[[str], None]) -> None:
        """List, then watch (and resync now and then) until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._follow(enqueue))
            if self.resync_seconds is not None:
                group.create_task(self._resync(enqueue, self.resync_seconds))

    async def _resync(self, enqueue: Callable[[str], None], seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            for keys in list(self._keys.values()):
                for key in keys:
                    enqueue(key)

    async def _follow(self, enqueue: Callable[[str], None]) -> None:
        backoff = Backoff(0.2, 5.0)
        while True:
            try:
                items, revision = await self.store.list(self.kind)
                listed = {obj.metadata.name for obj in items}
                for name in self._seen.keys() - listed:
                    self._forget(name)
                for obj in items:
                    # After a (re)list every key is checked once: nothing missed while away.
                    self._changed(obj)
                    for key in self.keys_of(obj):
                        enqueue(key)
                backoff.reset()
                async for event in self.store.watch(self.kind, from_revision=revision + 1):
                    obj = event.object
                    if event.type == "DELETED":
                        self._forget(obj.metadata.name)
                    elif not self._changed(obj):
                        continue
                    for key in self.keys_of(obj):
                        enqueue(key)
            except Gone:
                log.info("workflows: watch of %s expired; listing again", self.kind.plural)
            except Unavailable as exc:
                delay = backoff.next_delay()
                log.warning("workflows: %s; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)


class WorkflowController:
    """Reconciles a workflow name: derived objects exist exactly for its current entries."""

    name = "workflows"
    resync_seconds = 60.0

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._changes: dict[type[Resource], SpecChanges] = {
            Workflow: SpecChanges(store, Workflow, own_name, self.resync_seconds),
            Pipeline: SpecChanges(store, Pipeline, _owning_workflow),
            Trigger: SpecChanges(store, Trigger, _owning_workflow),
        }
        self.sources: list[WatchSource | KeySource] = list(self._changes.values())

    async def reconcile(self, key: str) -> None:
        """Create, update and delete derived objects so they match workflow `key`."""
        try:
            workflow: Workflow | None = await self.store.get(Workflow, key)
        except NotFound:
            workflow = None
        stored_triggers = await self._derived(Trigger, key)
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

    async def _derived(self, kind: type[DerivedT], workflow: str) -> list[DerivedT]:
        # Derived names are `{workflow}.{entry}`: the name prefix keeps this read to the
        # workflow's own objects instead of every object of the kind.
        existing, _ = await self.store.list(
            kind, label_selector={WORKFLOW_LABEL: workflow}, name_prefix=f"{workflow}."
        )
        return list(existing)

    async def _drop_overrides(self, triggers: list[Trigger]) -> None:
        """Forget overrides the workflow has overruled by changing `suspend` itself."""
        for trigger in triggers:
            stale = trigger.status.suspendOverride

            def drop(current: Trigger, stale: object = stale) -> Trigger | None:
                if current.status.suspendOverride != stale:
                    return None  # set anew meanwhile: the next reconcile judges it
                current.status.suspendOverride = None
                return current

            try:
                await self.store.mutate(Trigger, trigger.metadata.name, drop)
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
            existing = await self._derived(kind, workflow)
        current_by_name = {obj.metadata.name: obj for obj in existing}
        desired_names = {obj.metadata.name for obj in desired}
        for obj in desired:
            current = current_by_name.get(obj.metadata.name)
            if current is None:
                try:
                    created = await self.store.create(obj)
                    self._changes[kind].remember(created)
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

        updated = await self.store.mutate(kind, desired.metadata.name, apply_desired)
        self._changes[kind].remember(updated)
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
            await self.store.mutate(Workflow, workflow.metadata.name, set_status)
        except NotFound:
            pass
