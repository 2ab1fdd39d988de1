"""A thin asyncio client for etcd v3: raw KV, transactions, leases, resumable watches.

`EtcdClient` implements the store's `KeyValueStore` protocol (kv.py) on a real cluster.

Built on `aetcd.Client` for the gRPC channel and the generated etcd protocol, but the calls go
through the stubs directly: aetcd's own helpers drop response headers (revisions) that Xene needs
and its shared watcher cannot resume a stream after etcd restarts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import aetcd
import grpc
from aetcd import rpc

from xene.api.errors import FieldError, Gone, Invalid, NotFound, TooLarge, Unavailable, XeneError
from xene.backoff import Backoff
from xene.store.kv import (
    Compare,
    Delete,
    DeleteResult,
    Get,
    KeyEvent,
    KeyValue,
    LeaseGrant,
    Put,
    PutResult,
    RangeResult,
    TxnOp,
    TxnResponse,
    TxnResult,
    prefix_range_end,
    to_bytes,
)

log = logging.getLogger(__name__)

DEFAULT_PORT = 2379
DEFAULT_TIMEOUT = 5.0

R = TypeVar("R")

# Keepalive pings find a dead connection (etcd host gone, no RST) within ~15s; etcd rejects
# clients pinging more often than every 5s, and pings without an active stream.
# The reconnect backoff is capped low so a restarted etcd is found again within a second.
_CHANNEL_OPTIONS: dict[str, Any] = {
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 5_000,
    "grpc.keepalive_permit_without_calls": 0,
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.min_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 1_000,
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
    "grpc.max_send_message_length": 16 * 1024 * 1024,
}

# Longer than the largest reconnect backoff, so a call retried with wait_for_ready sees the
# channel's next connection attempt.
_RECONNECT_GRACE = 1.5

_CallOptions = dict[str, Any]

_CONNECTION_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
_SERVER_TROUBLE_CODES = {
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}


@dataclass(frozen=True, slots=True)
class EtcdStatus:
    """What the answering etcd member says about itself."""

    endpoint: str
    version: str
    db_size: int
    leader: int
    member_id: int
    raft_index: int
    raft_term: int
    revision: int


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One etcd member address as host and port."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_endpoints(endpoints: str | Sequence[str]) -> list[Endpoint]:
    """Endpoints from `http://host:port`, `host:port` or `host` items, or a comma-joined string."""
    items = endpoints.split(",") if isinstance(endpoints, str) else list(endpoints)
    parsed: list[Endpoint] = []
    errors: list[FieldError] = []
    for index, raw in enumerate(items):
        text = raw.strip()
        try:
            parsed.append(_parse_endpoint(text))
        except ValueError as exc:
            errors.append(FieldError(f"etcd endpoints[{index}]", str(exc)))
    if errors:
        raise Invalid(errors)
    if not parsed:
        raise Invalid([FieldError("etcd endpoints", "at least one endpoint is needed")])
    return parsed


def _parse_endpoint(text: str) -> Endpoint:
    if not text:
        raise ValueError("empty endpoint")
    rest = text
    if "://" in text:
        scheme, rest = text.split("://", 1)
        if scheme == "https":
            raise ValueError(f"'{text}': TLS endpoints (https://) are not supported; use http://")
        if scheme != "http":
            raise ValueError(f"'{text}': unknown scheme '{scheme}', expected http://host:port")
    rest = rest.rstrip("/")
    if rest.startswith("["):
        host, sep, tail = rest[1:].partition("]")
        if not sep:
            raise ValueError(f"'{text}': unclosed '[' in IPv6 address")
        port_text = tail[1:] if tail.startswith(":") else ""
        if tail and not tail.startswith(":"):
            raise ValueError(f"'{text}': expected ':port' after the IPv6 address")
    elif rest.count(":") == 1:
        host, port_text = rest.split(":")
    elif ":" in rest:
        raise ValueError(f"'{text}': write IPv6 addresses as [addr]:port")
    else:
        host, port_text = rest, ""
    if not host or "/" in host:
        raise ValueError(f"'{text}' is not host:port")
    if not port_text:
        return Endpoint(host, DEFAULT_PORT)
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"'{text}': port '{port_text}' is not a number from 1 to 65535")
    return Endpoint(host, int(port_text))


def _kv(message: Any) -> KeyValue:
    return KeyValue(
        key=message.key,
        value=message.value,
        create_revision=message.create_revision,
        mod_revision=message.mod_revision,
        version=message.version,
        lease=message.lease,
    )


def _is_connection_error(error: grpc.aio.AioRpcError) -> bool:
    return error.code() in _CONNECTION_CODES


def _never_sent(error: grpc.aio.AioRpcError) -> bool:
    """True when gRPC could not reach the server, so a write certainly did not happen."""
    details = (error.details() or "").lower()
    return error.code() == grpc.StatusCode.UNAVAILABLE and (
        "failed to connect" in details or "connection refused" in details
    )


@dataclass(frozen=True, slots=True)
class _Stubs:
    """The gRPC stubs of one open channel, and the auth metadata every call carries."""

    endpoint: Endpoint
    channel: Any
    kv: Any
    lease: Any
    maintenance: Any
    watch: Any
    metadata: Any


class _Member:
    """One endpoint and its lazily opened channel."""

    def __init__(
        self, endpoint: Endpoint, timeout: float, username: str | None, password: str | None
    ) -> None:
        self.endpoint = endpoint
        self._timeout = timeout
        self._username = username
        self._password = password
        self._client: aetcd.Client | None = None
        self._stubs: _Stubs | None = None
        self._lock = asyncio.Lock()

    async def stubs(self) -> _Stubs:
        if self._stubs is not None:
            return self._stubs
        async with self._lock:
            if self._stubs is None:
                client = aetcd.Client(
                    host=self.endpoint.host,
                    port=self.endpoint.port,
                    username=self._username,
                    password=self._password,
                    timeout=self._timeout,
                    options=dict(_CHANNEL_OPTIONS),
                )
                # Without credentials connect() only builds the channel; with them it calls
                # Authenticate, whose failures come back as aetcd's own exceptions.
                try:
                    await client.connect()
                except aetcd.ClientError as exc:
                    await client.close()
                    raise Unavailable(
                        f"etcd at {self.endpoint} did not open a session: {exc}"
                    ) from exc
                self._client = client
                self._stubs = _Stubs(
                    endpoint=self.endpoint,
                    channel=client.channel,
                    kv=client.kvstub,
                    lease=client.leasestub,
                    maintenance=client.maintenancestub,
                    # aetcd keeps its watch stub inside its shared watcher; Xene runs one
                    # stream per watch so each can be resumed on its own.
                    watch=rpc.WatchStub(client.channel),
                    metadata=client.metadata,
                )
        return self._stubs

    async def close(self) -> None:
        client, self._client, self._stubs = self._client, None, None
        if client is not None:
            await client.close()


class EtcdClient:
    """Connection to an etcd cluster given as a list of endpoints; fails over between them."""

    def __init__(
        self,
        endpoints: str | Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.endpoints: list[Endpoint] = parse_endpoints(endpoints)
        self.timeout = timeout
        self._members = [_Member(e, timeout, username, password) for e in self.endpoints]
        self._preferred = 0
        self._closed = False

    def __repr__(self) -> str:
        return f"EtcdClient({', '.join(str(e) for e in self.endpoints)})"

    async def __aenter__(self) -> EtcdClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Check that some endpoint answers; raises Unavailable naming the endpoints if none does.

        Not required before other calls: channels open lazily and reconnect by themselves.
        """
        await self.status()

    async def close(self) -> None:
        """Close every channel; calls in flight fail."""
        self._closed = True
        for member in self._members:
            await member.close()

    # -- plumbing -------------------------------------------------------------------------

    def _order(self) -> list[_Member]:
        start = self._preferred
        return self._members[start:] + self._members[:start]

    def _demote(self, member: _Member) -> None:
        # Only move on if nobody has moved on already, so concurrent failures rotate once.
        if self._members[self._preferred] is member and len(self._members) > 1:
            self._preferred = (self._preferred + 1) % len(self._members)
            log.warning(
                "etcd at %s is unreachable; switching to %s",
                member.endpoint,
                self._members[self._preferred].endpoint,
            )

    def _unreachable(self, failures: list[tuple[Endpoint, grpc.aio.AioRpcError]]) -> Unavailable:
        def reason(error: grpc.aio.AioRpcError) -> str:
            if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                return f"no answer within {self.timeout:g}s"
            return error.details() or error.code().name

        if len(failures) == 1:
            endpoint, error = failures[0]
            return Unavailable(f"etcd at {endpoint} is unreachable: {reason(error)}")
        tried = "; ".join(f"{endpoint}: {reason(error)}" for endpoint, error in failures)
        return Unavailable(f"etcd is unreachable at every endpoint ({tried})")

    def _translate(self, endpoint: Endpoint, error: grpc.aio.AioRpcError) -> XeneError:
        details = error.details() or error.code().name
        code = error.code()
        if "lease not found" in details:
            return NotFound(f"etcd lease not found (expired or revoked): {details}")
        if "too large" in details or "larger than max" in details:
            return TooLarge(f"etcd at {endpoint} rejected the request: {details}")
        if "compacted" in details:
            return Gone(f"etcd at {endpoint}: {details}")
        if code in _SERVER_TROUBLE_CODES or "etcdserver:" in details or "raft" in details:
            # A member without quorum, mid-election or overloaded ("proposal dropped", "too many
            # requests", "request timed out"): the cluster cannot serve now, the caller may retry.
            return Unavailable(f"etcd at {endpoint} cannot serve the request now: {details}")
        return XeneError(f"etcd at {endpoint} failed the request ({code.name}): {details}")

    async def _call(
        self,
        operation: Callable[[_Stubs, _CallOptions], Awaitable[R]],
        *,
        idempotent: bool,
    ) -> R:
        """Run one RPC, trying the next endpoint when a member cannot be reached."""
        if self._closed:
            raise Unavailable("the etcd client is closed")
        failures: list[tuple[Endpoint, grpc.aio.AioRpcError]] = []
        for member in self._order():
            stubs = await member.stubs()
            try:
                return await operation(stubs, self._options(stubs, reconnect=False))
            except grpc.aio.AioRpcError as error:
                if not _is_connection_error(error):
                    raise self._translate(member.endpoint, error) from error
                first_error = error
            unsent = _never_sent(first_error)
            if unsent:
                # The channel may sit between two reconnect attempts (etcd just came back):
                # wait briefly for it rather than fail a call that would now succeed.
                try:
                    return await operation(stubs, self._options(stubs, reconnect=True))
                except grpc.aio.AioRpcError as error:
                    if not _is_connection_error(error):
                        raise self._translate(member.endpoint, error) from error
                    unsent = stubs.channel.get_state() != grpc.ChannelConnectivity.READY
            failures.append((member.endpoint, first_error))
            self._demote(member)
            # A write whose fate is unknown must not be sent twice: report it instead.
            if not (idempotent or unsent):
                unknown = self._unreachable(failures).message
                raise Unavailable(f"{unknown} (the write may or may not have been applied)")
        raise self._unreachable(failures)

    def _options(self, stubs: _Stubs, *, reconnect: bool) -> _CallOptions:
        if reconnect:
            return {
                "timeout": min(self.timeout, _RECONNECT_GRACE),
                "metadata": stubs.metadata,
                "wait_for_ready": True,
            }
        return {"timeout": self.timeout, "metadata": stubs.metadata, "wait_for_ready": False}

    # -- key-value ------------------------------------------------------------------------

    async def get(self, key: str | bytes) -> KeyValue | None:
        """The key with its revisions, or None when it does not exist."""
        request = rpc.RangeRequest(key=to_bytes(key))

        async def run(stubs: _Stubs, options: _CallOptions) -> KeyValue | None:
            response = await stubs.kv.Range(request, **options)
            return _kv(response.kvs[0]) if response.kvs else None

        return await self._call(run, idempotent=True)

    async def get_prefix(
        self, prefix: str | bytes, *, keys_only: bool = False, revision: int = 0
    ) -> RangeResult:
        """Every key starting with `prefix`, sorted by key, with the revision of the read."""
        return await self.range(prefix, prefix=True, keys_only=keys_only, revision=revision)

    async def range(
        self,
        key: str | bytes,
        *,
        prefix: bool = False,
        keys_only: bool = False,
        revision: int = 0,
        count_only: bool = False,
    ) -> RangeResult:
        """The key (or every key under it with `prefix`) with the revision of the read; with
        `count_only`, only how many there are."""
        start = to_bytes(key)
        request = rpc.RangeRequest(
            key=start,
            range_end=prefix_range_end(start) if prefix else b"",
            keys_only=keys_only,
            count_only=count_only,
            revision=revision,
            sort_order=rpc.RangeRequest.ASCEND,
            sort_target=rpc.RangeRequest.KEY,
        )

        async def run(stubs: _Stubs, options: _CallOptions) -> RangeResult:
            response = await stubs.kv.Range(request, **options)
            kvs = [_kv(kv) for kv in response.kvs]
            return RangeResult(kvs, response.header.revision, response.count)

        return await self._call(run, idempotent=True)

    async def put(
        self,
        key: str | bytes,
        value: bytes | str,
        *,
        lease: int = 0,
        prev_kv: bool = False,
    ) -> PutResult:
        """Write a key, attached to `lease` when non-zero."""
        request = rpc.PutRequest(
            key=to_bytes(key), value=to_bytes(value), lease=lease, prev_kv=prev_kv
        )

        async def run(stubs: _Stubs, options: _CallOptions) -> PutResult:
            response = await stubs.kv.Put(request, **options)
            prev = _kv(response.prev_kv) if prev_kv and response.HasField("prev_kv") else None
            return PutResult(response.header.revision, prev)

        return await self._call(run, idempotent=True)

    async def delete(
        self, key: str | bytes, *, prefix: bool = False, prev_kv: bool = False
    ) -> DeleteResult:
        """Delete a key, or every key under it with `prefix`."""
        request = _delete_request(Delete(key, prefix=prefix, prev_kv=prev_kv))

        async def run(stubs: _Stubs, options: _CallOptions) -> DeleteResult:
            response = await stubs.kv.DeleteRange(request, **options)
            return DeleteResult(
                response.header.revision, response.deleted, [_kv(kv) for kv in response.prev_kvs]
            )

        return await self._call(run, idempotent=True)

    async def transaction(
        self,
        compare: Sequence[Compare],
        success: Sequence[TxnOp] = (),
        failure: Sequence[TxnOp] = (),
    ) -> TxnResult:
        """Run `success` when every compare holds, else `failure`, atomically."""
        request = rpc.TxnRequest(
            compare=[compare_message(c) for c in compare],
            success=[_op_message(op) for op in success],
            failure=[_op_message(op) for op in failure],
        )

        async def run(stubs: _Stubs, options: _CallOptions) -> TxnResult:
            response = await stubs.kv.Txn(request, **options)
            revision = response.header.revision
            return TxnResult(
                response.succeeded,
                revision,
                [_op_response(r, revision) for r in response.responses],
            )

        # Only a read-only transaction can be retried elsewhere without knowing its outcome.
        read_only = all(isinstance(op, Get) for op in (*success, *failure))
        return await self._call(run, idempotent=read_only)

    async def compact(self, revision: int, *, physical: bool = True) -> None:
        """Drop history older than `revision`; watches from before it then fail with Gone."""
        request = rpc.CompactionRequest(revision=revision, physical=physical)

        async def run(stubs: _Stubs, options: _CallOptions) -> None:
            await stubs.kv.Compact(request, **options)

        await self._call(run, idempotent=True)

    # -- leases ---------------------------------------------------------------------------

    async def lease_grant(self, ttl: int) -> LeaseGrant:
        """A new lease that expires `ttl` seconds after its last keepalive."""
        if ttl < 1:
            raise Invalid([FieldError("ttl", f"a lease TTL must be at least 1 second (got {ttl})")])
        request = rpc.LeaseGrantRequest(TTL=ttl)

        async def run(stubs: _Stubs, options: _CallOptions) -> LeaseGrant:
            response = await stubs.lease.LeaseGrant(request, **options)
            if response.error:
                raise XeneError(f"etcd refused a lease: {response.error}")
            return LeaseGrant(response.ID, response.TTL)

        # An orphaned grant just expires after its TTL, so retrying elsewhere is harmless.
        return await self._call(run, idempotent=True)

    async def lease_keepalive(self, lease_id: int) -> int:
        """Refresh a lease once; the TTL it now has, 0 when it has already expired."""

        async def run(stubs: _Stubs, options: _CallOptions) -> int:
            call = stubs.lease.LeaseKeepAlive(**options)
            try:
                await call.write(rpc.LeaseKeepAliveRequest(ID=lease_id))
                response = await call.read()
            finally:
                call.cancel()
            if response is grpc.aio.EOF:
                return 0
            return int(response.TTL)

        return await self._call(run, idempotent=True)

    async def lease_revoke(self, lease_id: int) -> None:
        """Revoke a lease, deleting its keys; a lease already gone is not an error."""
        request = rpc.LeaseRevokeRequest(ID=lease_id)

        async def run(stubs: _Stubs, options: _CallOptions) -> None:
            await stubs.lease.LeaseRevoke(request, **options)

        try:
            await self._call(run, idempotent=True)
        except NotFound:
            pass

    async def lease_time_to_live(self, lease_id: int) -> int:
        """Seconds left on a lease, -1 when it does not exist (expired or revoked)."""
        request = rpc.LeaseTimeToLiveRequest(ID=lease_id)

        async def run(stubs: _Stubs, options: _CallOptions) -> int:
            response = await stubs.lease.LeaseTimeToLive(request, **options)
            return int(response.TTL)

        return await self._call(run, idempotent=True)

    # -- cluster --------------------------------------------------------------------------

    async def status(self) -> EtcdStatus:
        """Version, leader and revision as reported by the first member that answers."""
        request = rpc.StatusRequest()

        async def run(stubs: _Stubs, options: _CallOptions) -> EtcdStatus:
            response = await stubs.maintenance.Status(request, **options)
            return EtcdStatus(
                endpoint=str(stubs.endpoint),
                version=response.version,
                db_size=response.dbSize,
                leader=response.leader,
                member_id=response.header.member_id,
                raft_index=response.raftIndex,
                raft_term=response.raftTerm,
                revision=response.header.revision,
            )

        return await self._call(run, idempotent=True)

    # -- watches --------------------------------------------------------------------------

    def watch_prefix(
        self,
        prefix: str | bytes,
        *,
        start_revision: int | None = None,
        prev_kv: bool = False,
    ) -> AsyncGenerator[KeyEvent, None]:
        """Every change under `prefix` from `start_revision` on (inclusive); see `watch`."""
        return self.watch(prefix, prefix=True, start_revision=start_revision, prev_kv=prev_kv)

    async def watch(
        self,
        key: str | bytes,
        *,
        prefix: bool = False,
        start_revision: int | None = None,
        prev_kv: bool = False,
    ) -> AsyncGenerator[KeyEvent, None]:
        """Changes of a key (or prefix) from `start_revision` on (inclusive; None: from now).

        Survives lost connections and etcd restarts: the stream is re-created from the revision
        after the last delivered event, with backoff while etcd is down, so no event is lost or
        repeated. Raises Gone when the revision to resume from has been compacted. Close the
        iterator (`aclose()`, `contextlib.aclosing`) to cancel the watch early.
        """
        start = to_bytes(key)
        range_end = prefix_range_end(start) if prefix else b""
        next_revision = start_revision
        # etcd restarts within a second or two; check again that soon.
        backoff = Backoff(0.1, 1.0)
        while True:
            if self._closed:
                raise Unavailable("the etcd client is closed")
            member = self._order()[0]
            call = None
            try:
                stubs = await member.stubs()
                call = stubs.watch.Watch(metadata=stubs.metadata)
                create = rpc.WatchCreateRequest(
                    key=start,
                    range_end=range_end,
                    start_revision=next_revision or 0,
                    prev_kv=prev_kv,
                    progress_notify=True,
                )
                await call.write(rpc.WatchRequest(create_request=create))
                while True:
                    response = await call.read()
                    if response is grpc.aio.EOF:
                        raise _StreamEnded("etcd closed the watch stream")
                    if response.compact_revision:
                        wanted = next_revision or 0
                        raise Gone(
                            f"cannot watch {start.decode(errors='replace')} from revision "
                            f"{wanted}: etcd compacted its history up to revision "
                            f"{response.compact_revision}; list again and watch from there"
                        )
                    if response.canceled:
                        raise _StreamEnded(f"etcd cancelled the watch: {response.cancel_reason}")
                    if response.created:
                        backoff.reset()
                        if next_revision is None:
                            next_revision = response.header.revision + 1
                        continue
                    if not response.events:
                        # A progress notification: every change up to header.revision is
                        # delivered, so a resumed watch need not start further back.
                        if next_revision is not None:
                            next_revision = max(next_revision, response.header.revision + 1)
                        continue
                    for event in response.events:
                        is_delete = event.type == rpc.Event.DELETE
                        yield KeyEvent(
                            "DELETE" if is_delete else "PUT",
                            _kv(event.kv),
                            _kv(event.prev_kv) if event.HasField("prev_kv") else None,
                        )
                    # etcd never splits one revision across responses (fragment is off), so
                    # everything up to the last event's revision has now been delivered.
                    next_revision = response.events[-1].kv.mod_revision + 1
            except grpc.aio.AioRpcError as error:
                if not _is_connection_error(error) and error.code() != grpc.StatusCode.CANCELLED:
                    raise self._translate(member.endpoint, error) from error
                log.warning(
                    "watch on %s from etcd at %s broke (%s); resuming at revision %s",
                    start.decode(errors="replace"),
                    member.endpoint,
                    error.details() or error.code().name,
                    next_revision,
                )
                self._demote(member)
            except (_StreamEnded, asyncio.InvalidStateError) as ended:
                log.warning(
                    "watch on %s: %s; resuming at revision %s",
                    start.decode(errors="replace"),
                    ended or "stream finished",
                    next_revision,
                )
            finally:
                if call is not None:
                    call.cancel()
            await asyncio.sleep(backoff.next_delay())


class _StreamEnded(Exception):
    """A watch stream stopped without an RPC error; it is re-created."""


def compare_message(compare: Compare) -> Any:
    """The etcd protocol's Compare message for one condition of a transaction."""
    ops = {
        "==": rpc.Compare.EQUAL,
        "!=": rpc.Compare.NOT_EQUAL,
        "<": rpc.Compare.LESS,
        ">": rpc.Compare.GREATER,
    }
    message = rpc.Compare(key=to_bytes(compare.key), result=ops[compare.op])
    operand = compare.operand
    if compare.target == "value":
        message.target = rpc.Compare.VALUE
        message.value = to_bytes(operand if not isinstance(operand, int) else str(operand))
        return message
    if not isinstance(operand, int):
        raise TypeError(f"a '{compare.target}' compare needs an int, got {operand!r}")
    if compare.target == "version":
        message.target = rpc.Compare.VERSION
        message.version = operand
    elif compare.target == "create":
        message.target = rpc.Compare.CREATE
        message.create_revision = operand
    elif compare.target == "mod":
        message.target = rpc.Compare.MOD
        message.mod_revision = operand
    else:
        message.target = rpc.Compare.LEASE
        message.lease = operand
    return message


def _delete_request(op: Delete) -> Any:
    key = to_bytes(op.key)
    return rpc.DeleteRangeRequest(
        key=key, range_end=prefix_range_end(key) if op.prefix else b"", prev_kv=op.prev_kv
    )


def _op_message(op: TxnOp) -> Any:
    if isinstance(op, Get):
        key = to_bytes(op.key)
        range_end = prefix_range_end(key) if op.prefix else b""
        return rpc.RequestOp(request_range=rpc.RangeRequest(key=key, range_end=range_end))
    if isinstance(op, Put):
        put = rpc.PutRequest(
            key=to_bytes(op.key),
            value=to_bytes(op.value),
            lease=op.lease,
            prev_kv=op.prev_kv,
            ignore_lease=op.ignore_lease,
        )
        return rpc.RequestOp(request_put=put)
    return rpc.RequestOp(request_delete_range=_delete_request(op))


def _op_response(response: Any, revision: int) -> TxnResponse:
    kind = response.WhichOneof("response")
    if kind == "response_range":
        return RangeResult([_kv(kv) for kv in response.response_range.kvs], revision)
    if kind == "response_put":
        put = response.response_put
        return PutResult(revision, _kv(put.prev_kv) if put.HasField("prev_kv") else None)
    if kind == "response_delete_range":
        deleted = response.response_delete_range
        return DeleteResult(revision, deleted.deleted, [_kv(kv) for kv in deleted.prev_kvs])
    raise XeneError(f"unexpected etcd transaction response '{kind}'")
