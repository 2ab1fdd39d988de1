"""How an API object is stored: compact JSON without resourceVersion, which is the key's
mod_revision and is filled in on every read."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from xene.api.errors import XeneError
from xene.api.meta import Resource
from xene.store.kv import KeyValue

T = TypeVar("T", bound=Resource)


def kind_name(cls: type[Resource]) -> str:
    """The kind in lower case, for messages ("pipeline 'x' not found")."""
    return (cls.kind_name or cls.__name__).lower()


def comparable(obj: Resource) -> dict[str, Any]:
    """The object's stored fields as JSON data (everything but resourceVersion)."""
    data = obj.model_dump(mode="json")
    data["metadata"].pop("resourceVersion", None)
    return data


def encode(obj: Resource) -> bytes:
    """The stored value of an object."""
    return json.dumps(comparable(obj), separators=(",", ":"), sort_keys=True).encode()


def spec_of(obj: Resource) -> Any:
    """The object's spec as JSON data; a change of it bumps `generation`."""
    return obj.model_dump(mode="json").get("spec")


def decode(cls: type[T], kv: KeyValue) -> T:
    """The object stored in `kv`; XeneError naming the key when it cannot be read."""
    try:
        obj = cls.model_validate_json(kv.value)
    except (ValidationError, ValueError) as exc:
        raise XeneError(
            f"stored {kind_name(cls)} at {kv.key.decode(errors='replace')} cannot be read: {exc}"
        ) from exc
    obj.metadata.resourceVersion = str(kv.mod_revision)
    return obj


def prepared_for_create(obj: T, clock: Callable[[], datetime]) -> T:
    """A copy of `obj` as a create stores it: a new uid, creationTimestamp, generation 1."""
    stored = obj.model_copy(deep=True)
    meta = stored.metadata
    meta.uid = str(uuid.uuid4())
    meta.creationTimestamp = clock()
    meta.generation = 1
    meta.resourceVersion = None
    return stored
