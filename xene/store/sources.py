"""What an informer reads: a family of keys that can be listed, then watched from a revision.

Typed objects of one kind (ObjectStore.list_watch), agents' liveness keys, agents' commands and
single raw keys (an election) are all such families; each decodes its values on the way in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from xene.store.kv import KeyValue, KeyValueStore, to_bytes

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class KeyedItem(Generic[T]):
    """One member of a family: its key in the family, its value (None: deleted) and the store
    revision it was written (or deleted) at."""

    key: str
    value: T | None
    revision: int


@dataclass(frozen=True, slots=True)
class Listing(Generic[T]):
    """Every member of a family at one revision."""

    items: list[KeyedItem[T]]
    revision: int


class ListWatch(Protocol[T]):
    """A family of keys: list it whole, then watch it from the revision after the list."""

    @property
    def description(self) -> str:
        """What the family is, for log lines ("pipelines", "agent liveness keys")."""
        ...

    async def list(self) -> Listing[T]:
        """Every member now, with the revision of the read."""
        ...

    def watch(self, from_revision: int) -> AsyncIterator[KeyedItem[T]]:
        """Every change from `from_revision` on (inclusive), in revision order; raises Gone
        when that revision is compacted."""
        ...


class KeyRange(Generic[T]):
    """The raw keys under `prefix` (or the one key `prefix` with `exact`), decoded by `decode`.

    A value `decode` cannot read raises ValueError and is left out.
    """

    def __init__(
        self,
        kv: KeyValueStore,
        prefix: str,
        decode: Callable[[str, KeyValue], T],
        *,
        exact: bool = False,
        description: str | None = None,
    ) -> None:
        self.kv = kv
        self.prefix = prefix
        self.decode = decode
        self.exact = exact
        self.description = description or prefix

    def __repr__(self) -> str:
        return f"KeyRange({self.prefix!r})"

    def _key(self, raw: bytes) -> str:
        return raw.decode() if self.exact else raw.decode()[len(self.prefix) :]

    def _item(self, kv: KeyValue) -> KeyedItem[T] | None:
        key = self._key(kv.key)
        try:
            return KeyedItem(key, self.decode(key, kv), kv.mod_revision)
        except ValueError:
            return None

    async def list(self) -> Listing[T]:
        """Every key of the range now, decoded."""
        result = await self.kv.range(self.prefix, prefix=not self.exact)
        items = [item for kv in result.kvs if (item := self._item(kv)) is not None]
        return Listing(items, result.revision)

    async def watch(self, from_revision: int) -> AsyncIterator[KeyedItem[T]]:
        """Every change of the range from `from_revision` on."""
        events = self.kv.watch(
            to_bytes(self.prefix), prefix=not self.exact, start_revision=from_revision
        )
        try:
            async for event in events:
                if event.type == "DELETE":
                    yield KeyedItem(self._key(event.kv.key), None, event.revision)
                elif (item := self._item(event.kv)) is not None:
                    yield item
        finally:
            await events.aclose()
