"""The key-value store under Xene's objects: etcd v3's data model, as a protocol.

`KeyValueStore` is the part of etcd's API that the store uses: ranges, puts and deletes,
transactions of compares and ops, watches from a revision, leases, compaction. `EtcdClient`
(etcd.py) implements it on a real cluster, `MemoryKeyValueStore` (memory.py) in memory for unit
tests; tests/store_contract.py checks both against the same expectations.

Semantics both keep: one revision counter for the whole store, bumped once per write
(a transaction is one write); every key has create_revision, mod_revision and version;
history before a compacted revision is gone (reads and watches there raise Gone); a key
written with a lease is deleted when the lease is revoked or expires.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One stored key with its revisions; `lease` is 0 when no lease is attached."""

    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int = 0


@dataclass(frozen=True, slots=True)
class RangeResult:
    """Keys read by one range request, and the store revision the read saw; `count` is how
    many keys the range holds (also when `count_only` left the keys out)."""

    kvs: list[KeyValue]
    revision: int
    count: int = 0


@dataclass(frozen=True, slots=True)
class PutResult:
    """The revision a put was written at, and the previous value when asked for."""

    revision: int
    prev_kv: KeyValue | None = None


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """How many keys a delete removed, at which revision, and their last values when asked for."""

    revision: int
    deleted: int
    prev_kvs: list[KeyValue] = field(default_factory=list)


CompareTarget = Literal["version", "create", "mod", "value", "lease"]
CompareOp = Literal["==", "!=", "<", ">"]


@dataclass(frozen=True, slots=True)
class Compare:
    """One condition of a transaction: `target` of `key` `op` `operand`."""

    key: str | bytes
    target: CompareTarget
    op: CompareOp
    operand: int | bytes | str

    @classmethod
    def missing(cls, key: str | bytes) -> Compare:
        """True when the key does not exist."""
        return cls(key, "version", "==", 0)

    @classmethod
    def exists(cls, key: str | bytes) -> Compare:
        """True when the key exists."""
        return cls(key, "version", ">", 0)

    @classmethod
    def mod_revision_is(cls, key: str | bytes, revision: int) -> Compare:
        """True when the key was last written at `revision` (the compare-and-swap check)."""
        return cls(key, "mod", "==", revision)

    @classmethod
    def create_revision_is(cls, key: str | bytes, revision: int) -> Compare:
        """True when the key was created at `revision` (0: it does not exist)."""
        return cls(key, "create", "==", revision)

    @classmethod
    def value_is(cls, key: str | bytes, value: bytes | str) -> Compare:
        """True when the key holds exactly `value`."""
        return cls(key, "value", "==", value)


@dataclass(frozen=True, slots=True)
class Get:
    """Read a key (or every key under it with `prefix`) inside a transaction."""

    key: str | bytes
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class Put:
    """Write a key inside a transaction; `ignore_lease` keeps the key's current lease."""

    key: str | bytes
    value: bytes | str
    lease: int = 0
    prev_kv: bool = False
    ignore_lease: bool = False


@dataclass(frozen=True, slots=True)
class Delete:
    """Delete a key (or every key under it with `prefix`) inside a transaction."""

    key: str | bytes
    prefix: bool = False
    prev_kv: bool = False


TxnOp = Get | Put | Delete
TxnResponse = RangeResult | PutResult | DeleteResult


@dataclass(frozen=True, slots=True)
class TxnPart:
    """What a named store operation adds to another one's transaction: conditions that must
    hold and writes made with it (a command stored together with the run it starts)."""

    compares: tuple[Compare, ...] = ()
    ops: tuple[Put | Delete, ...] = ()


@dataclass(frozen=True, slots=True)
class TxnResult:
    """Whether the compares held, the revision after the transaction, one response per op run."""

    succeeded: bool
    revision: int
    responses: list[TxnResponse]


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """One change seen by a watch; for DELETE, `kv` has only the key and the deletion revision."""

    type: Literal["PUT", "DELETE"]
    kv: KeyValue
    prev_kv: KeyValue | None = None

    @property
    def revision(self) -> int:
        """The store revision of this change."""
        return self.kv.mod_revision


@dataclass(frozen=True, slots=True)
class LeaseGrant:
    """A granted lease: its id and the TTL etcd settled on."""

    id: int
    ttl: int


def to_bytes(value: str | bytes) -> bytes:
    """UTF-8 bytes of a key or value given as text."""
    return value if isinstance(value, bytes) else value.encode()


def prefix_range_end(prefix: bytes) -> bytes:
    """The range_end that makes a range cover every key starting with `prefix`."""
    end = bytearray(prefix)
    for index in reversed(range(len(end))):
        if end[index] < 0xFF:
            end[index] += 1
            return bytes(end[: index + 1])
    return b"\0"  # every byte is 0xff: the range runs to the end of the keyspace


class KeyValueStore(Protocol):
    """etcd v3's key-value API as Xene uses it (see the module docstring for the semantics)."""

    async def get(self, key: str | bytes) -> KeyValue | None:
        """The key with its revisions, or None when it does not exist."""
        ...

    async def get_prefix(
        self, prefix: str | bytes, *, keys_only: bool = False, revision: int = 0
    ) -> RangeResult:
        """Every key starting with `prefix`, sorted by key, with the revision of the read."""
        ...

    async def range(
        self,
        key: str | bytes,
        *,
        prefix: bool = False,
        keys_only: bool = False,
        revision: int = 0,
        count_only: bool = False,
    ) -> RangeResult:
        """The key (or every key under it with `prefix`), as of `revision` (0: now); with
        `count_only`, only how many there are (etcd counts without reading any value)."""
        ...

    async def put(
        self, key: str | bytes, value: bytes | str, *, lease: int = 0, prev_kv: bool = False
    ) -> PutResult:
        """Write a key, attached to `lease` when non-zero."""
        ...

    async def delete(
        self, key: str | bytes, *, prefix: bool = False, prev_kv: bool = False
    ) -> DeleteResult:
        """Delete a key, or every key under it with `prefix`."""
        ...

    async def transaction(
        self,
        compare: Sequence[Compare],
        success: Sequence[TxnOp] = (),
        failure: Sequence[TxnOp] = (),
    ) -> TxnResult:
        """Run `success` when every compare holds, else `failure`, atomically."""
        ...

    async def compact(self, revision: int, *, physical: bool = True) -> None:
        """Drop history older than `revision`; reads and watches from before it raise Gone."""
        ...

    async def lease_grant(self, ttl: int) -> LeaseGrant:
        """A new lease that expires `ttl` seconds after its last keepalive."""
        ...

    async def lease_keepalive(self, lease_id: int) -> int:
        """Refresh a lease once; the TTL it now has, 0 when it has already expired."""
        ...

    async def lease_revoke(self, lease_id: int) -> None:
        """Revoke a lease, deleting its keys; a lease already gone is not an error."""
        ...

    async def lease_time_to_live(self, lease_id: int) -> int:
        """Seconds left on a lease, -1 when it does not exist (expired or revoked)."""
        ...

    def watch(
        self,
        key: str | bytes,
        *,
        prefix: bool = False,
        start_revision: int | None = None,
        prev_kv: bool = False,
    ) -> AsyncGenerator[KeyEvent, None]:
        """Changes of a key (or prefix) from `start_revision` on (inclusive; None: from now),
        in revision order, none lost or repeated; Gone when that revision is compacted."""
        ...

    def watch_prefix(
        self,
        prefix: str | bytes,
        *,
        start_revision: int | None = None,
        prev_kv: bool = False,
    ) -> AsyncGenerator[KeyEvent, None]:
        """Every change under `prefix` from `start_revision` on (inclusive); see `watch`."""
        ...

    async def close(self) -> None:
        """Release connections; calls in flight fail."""
        ...
