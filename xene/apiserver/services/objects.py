"""Reading any kind and writing Workflows: validation, apply, compare-and-swap."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

from xene.api.errors import AlreadyExists, Conflict, FieldError, Invalid, NotFound
from xene.api.kind_names import USER_WRITABLE
from xene.api.kinds import kind_by_name
from xene.api.meta import Resource
from xene.api.selectors import LabelSelector
from xene.api.validation import validate_object
from xene.api.workflow import Workflow
from xene.store.objects import ObjectStore, WatchEvent

ApplyAction = Literal["created", "configured", "unchanged"]

APPLY_ATTEMPTS = 10


def _user_fields(obj: Resource) -> dict[str, Any]:
    return {
        "spec": obj.model_dump(mode="json", include={"spec"}),
        "labels": obj.metadata.labels,
        "annotations": obj.metadata.annotations,
    }


class ReadOnlyKind(Invalid):
    """Writes to a derived kind (Pipeline, Trigger, Agent, PipelineRun) are not allowed."""

    reason = "MethodNotAllowed"


class ObjectService:
    """Typed reads of every kind and validated writes of user-authored ones."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    async def get(self, kind: type[Resource], name: str) -> Resource:
        """One object by kind and name."""
        return await self.store.get(kind, name)

    async def list(
        self, kind: type[Resource], label_selector: LabelSelector | None = None
    ) -> tuple[list[Resource], int]:
        """All objects of a kind (optionally by labels) and the revision they were read at."""
        items, revision = await self.store.list(kind)
        if label_selector:
            items = [item for item in items if label_selector.matches(item.metadata.labels)]
        return list(items), revision

    def watch(self, kind: type[Resource], from_revision: int) -> AsyncIterator[WatchEvent[Any]]:
        """Changes of a kind after `from_revision`."""
        return self.store.watch(kind, from_revision=from_revision)

    def check_writable(self, kind: type[Resource]) -> None:
        """Refuse writes to kinds the server derives itself."""
        if kind.plural not in USER_WRITABLE:
            raise ReadOnlyKind(
                [],
                f"{kind.plural} are managed by the server and read-only; "
                "edit the Workflow they come from and apply it",
            )

    def parse(self, document: dict[str, Any]) -> Workflow:
        """Validate a submitted document into a Workflow (the only writable kind)."""
        obj = validate_object(document)
        if not isinstance(obj, Workflow):
            self.check_writable(type(obj))
        assert isinstance(obj, Workflow)
        return obj

    async def apply(self, document: dict[str, Any]) -> tuple[ApplyAction, Resource]:
        """Create or update a workflow; CAS against a given resourceVersion, else retry fresh.

        A derived object (Pipeline, Trigger, Agent, run) is read-only, but one applied exactly
        as stored is `unchanged`: a listing saved from `get -o yaml` applies back whole.
        """
        stored = await self._stored_as_submitted(document)
        if stored is not None:
            return "unchanged", stored
        return await self._apply_workflow(document)

    async def _apply_workflow(self, document: dict[str, Any]) -> tuple[ApplyAction, Workflow]:
        submitted = self.parse(document)
        expected_version = _submitted_version(document)
        for _ in range(APPLY_ATTEMPTS):
            try:
                current = await self.store.get(Workflow, submitted.metadata.name)
            except NotFound:
                if expected_version is not None:
                    raise NotFound(
                        f"workflow '{submitted.metadata.name}' not found "
                        f"(the apply named resourceVersion {expected_version})"
                    ) from None
                try:
                    return "created", await self.store.create(_fresh(submitted))
                except AlreadyExists:
                    continue
            if expected_version is not None and current.metadata.resourceVersion != (
                expected_version
            ):
                raise Conflict(_conflict_message(submitted.metadata.name, expected_version))
            if _user_fields(current) == _user_fields(submitted):
                return "unchanged", current
            updated = current.model_copy(deep=True)
            updated.spec = submitted.spec
            updated.metadata.labels = dict(submitted.metadata.labels)
            updated.metadata.annotations = dict(submitted.metadata.annotations)
            try:
                return "configured", await self.store.update(updated)
            except Conflict:
                if expected_version is not None:
                    raise
                continue
            except NotFound:
                continue
        raise Conflict(
            f"workflow '{submitted.metadata.name}' kept changing during apply; try again"
        )

    async def _stored_as_submitted(self, document: dict[str, Any]) -> Resource | None:
        """The stored read-only object `document` shows unchanged, if it is one."""
        kind = document.get("kind")
        metadata = document.get("metadata")
        if not isinstance(kind, str) or not isinstance(metadata, dict):
            return None
        try:
            cls = kind_by_name(kind)
        except NotFound:
            return None
        name = metadata.get("name")
        if cls.plural in USER_WRITABLE or not isinstance(name, str) or not name:
            return None
        try:
            stored = await self.store.get(cls, name)
        except (NotFound, Invalid):
            return None
        served = stored.to_dict()
        same = document.get("spec") == served.get("spec") and all(
            (metadata.get(field) or {}) == (served["metadata"].get(field) or {})
            for field in ("labels", "annotations")
        )
        return stored if same else None

    async def create(self, document: dict[str, Any]) -> Workflow:
        """Create only; AlreadyExists when the name is taken."""
        return await self.store.create(_fresh(self.parse(document)))

    async def replace(self, name: str, document: dict[str, Any]) -> Workflow:
        """Replace a workflow's spec, labels and annotations (CAS if a version is given)."""
        submitted = self.parse(document)
        if submitted.metadata.name != name:
            raise Invalid(
                [
                    FieldError(
                        "metadata.name",
                        f"'{submitted.metadata.name}' does not match the URL's name '{name}'",
                    )
                ]
            )
        return (await self._apply_workflow(document))[1]

    async def delete(
        self, kind: type[Resource], name: str, resource_version: str | None = None
    ) -> Resource:
        """Delete a user-authored object; its derived objects follow via the controller."""
        self.check_writable(kind)
        return await self.store.delete(kind, name, resource_version=resource_version)


def _submitted_version(document: dict[str, Any]) -> str | None:
    metadata = document.get("metadata")
    if isinstance(metadata, dict):
        version = metadata.get("resourceVersion")
        if version not in (None, ""):
            return str(version)
    return None


def _fresh(workflow: Workflow) -> Workflow:
    fresh = workflow.model_copy(deep=True)
    fresh.metadata.uid = None
    fresh.metadata.resourceVersion = None
    fresh.metadata.generation = None
    fresh.metadata.creationTimestamp = None
    fresh.status = type(fresh.status)()
    return fresh


def _conflict_message(name: str, version: str) -> str:
    return (
        f"workflow '{name}' was changed since resourceVersion {version}; "
        "get it again and re-apply your change"
    )
