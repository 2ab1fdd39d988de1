"""Metadata shared by every stored object, and the base model of all kinds."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from xene.api.kind_names import API_VERSION

# DNS-1123 label: what Kubernetes accepts as a name segment.
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# DNS-1123 subdomain: labels joined by dots; derived objects are named `workflow.pipeline`.
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
MAX_LABEL_LENGTH = 63
MAX_SUBDOMAIN_LENGTH = 253


def dns1123_label_problem(value: str) -> str | None:
    """Why `value` is not a DNS-1123 label, or None when it is one."""
    if not value:
        return "must not be empty"
    if len(value) > MAX_LABEL_LENGTH:
        return f"must be at most {MAX_LABEL_LENGTH} characters (got {len(value)})"
    if not DNS1123_LABEL.match(value):
        return (
            f"'{value}' is not a valid name: use lower-case letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return None


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class StrictModel(BaseModel):
    """Base of user-authored models: unknown fields are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class OwnerReference(StrictModel):
    """Names the object that owns this one; deleting the owner deletes the owned."""

    apiVersion: str = API_VERSION
    kind: str
    name: str
    uid: str | None = None


class ObjectMeta(StrictModel):
    """Kubernetes-style metadata; the server fills uid, resourceVersion, generation, timestamps."""

    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    uid: str | None = None
    resourceVersion: str | None = None
    generation: int | None = None
    creationTimestamp: datetime | None = None
    ownerReferences: list[OwnerReference] = Field(default_factory=list)


class Resource(StrictModel):
    """An object of one kind as stored and served: apiVersion, kind, metadata, spec, status."""

    kind_name: ClassVar[str] = ""
    plural: ClassVar[str] = ""

    apiVersion: str = API_VERSION
    kind: str
    metadata: ObjectMeta

    @property
    def name(self) -> str:
        return self.metadata.name

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form, as served over the API."""
        return self.model_dump(mode="json", exclude_none=True)
