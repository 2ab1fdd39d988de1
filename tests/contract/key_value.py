"""What the store needs of a key-value store: etcd v3's semantics, checked on etcd and memory.

A subclass provides the fixtures `kv` (an empty KeyValueStore) and `pass_time` (an async
callable that lets `seconds` of lease time go by) and `settle` (an async callable that waits
until the store had time to act on what passed, such as expiring leases).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from xene.api.errors import Gone, NotFound
from xene.store.kv import (
    Compare,
    Delete,
    DeleteResult,
    Get,
    KeyEvent,
    KeyValueStore,
    Put,
    PutResult,
    RangeResult,
)

PassTime = Callable[[float], Awaitable[None]]


async def collect(
    events: AsyncIterator[KeyEvent], count: int, within: float = 10.0
) -> list[KeyEvent]:
    """The next `count` events of a watch (fails when they do not come in time)."""
    seen: list[KeyEvent] = []

    async def take() -> None:
        async for event in events:
            seen.append(event)
            if len(seen) == count:
                return

    await asyncio.wait_for(take(), within)
    return seen


async def eventually_gone(kv: KeyValueStore, key: str, within: float = 10.0) -> None:
    """Wait until `key` no longer exists."""
    deadline = asyncio.get_running_loop().time() + within
    while await kv.get(key) is not None:
        assert asyncio.get_running_loop().time() < deadline, f"{key} still exists"
        await asyncio.sleep(0.05)


class KeyValueContract:
    """The expectations; see the module docstring for the fixtures a subclass provides."""

    async def test_every_write_bumps_the_revision_once_and_keys_count_their_versions(
        self, kv: KeyValueStore
    ) -> None:
        first = await kv.put("/c/a", b"1")
        second = await kv.put("/c/a", b"2", prev_kv=True)
        assert second.revision == first.revision + 1
        assert second.prev_kv is not None and second.prev_kv.value == b"1"
        stored = await kv.get("/c/a")
        assert stored is not None
        assert (stored.value, stored.create_revision, stored.mod_revision, stored.version) == (
            b"2",
            first.revision,
            second.revision,
            2,
        )

    async def test_deleting_nothing_changes_nothing(self, kv: KeyValueStore) -> None:
        written = await kv.put("/c/a", b"1")
        missing = await kv.delete("/c/nothing")
        assert missing.deleted == 0
        assert (await kv.range("/c/a")).revision == written.revision
        deleted = await kv.delete("/c/a", prev_kv=True)
        assert (deleted.deleted, deleted.revision) == (1, written.revision + 1)
        assert deleted.prev_kvs[0].value == b"1"
        assert await kv.get("/c/a") is None

    async def test_a_prefix_covers_its_keys_only_in_key_order(self, kv: KeyValueStore) -> None:
        await kv.put("/c/b", b"2")
        await kv.put("/c/a", b"1")
        await kv.put("/c0", b"beside")
        last = await kv.put("/d/a", b"elsewhere")
        result = await kv.get_prefix("/c/")
        assert [item.key for item in result.kvs] == [b"/c/a", b"/c/b"]
        assert result.revision == last.revision
        keys_only = await kv.get_prefix("/c/", keys_only=True)
        assert [item.value for item in keys_only.kvs] == [b"", b""]
        deleted = await kv.delete("/c/", prefix=True)
        assert deleted.deleted == 2
        assert await kv.get("/c0") is not None

    async def test_a_transaction_runs_one_branch_at_one_revision(self, kv: KeyValueStore) -> None:
        created = await kv.transaction(
            [Compare.missing("/t/k")], [Put("/t/k", b"v1"), Put("/t/other", b"x")], [Get("/t/k")]
        )
        assert created.succeeded
        k, other = await kv.get("/t/k"), await kv.get("/t/other")
        assert k is not None and other is not None
        assert k.mod_revision == other.mod_revision == created.revision

        again = await kv.transaction([Compare.missing("/t/k")], [Put("/t/k", b"v2")], [Get("/t/k")])
        assert not again.succeeded and again.revision == created.revision
        found = again.responses[0]
        assert isinstance(found, RangeResult) and found.kvs[0].value == b"v1"

        swapped = await kv.transaction(
            [Compare.mod_revision_is("/t/k", k.mod_revision), Compare.value_is("/t/k", b"v1")],
            [Delete("/t/k", prev_kv=True)],
        )
        assert swapped.succeeded
        removed = swapped.responses[0]
        assert isinstance(removed, DeleteResult) and removed.prev_kvs[0].value == b"v1"

    async def test_compares_of_a_missing_key(self, kv: KeyValueStore) -> None:
        holds = [
            Compare.missing("/t/none"),
            Compare.create_revision_is("/t/none", 0),
            Compare.mod_revision_is("/t/none", 0),
            Compare("/t/none", "version", "<", 1),
        ]
        for condition in holds:
            assert (await kv.transaction([condition])).succeeded, condition
        fails = [Compare.exists("/t/none"), Compare.value_is("/t/none", b"")]
        for condition in fails:
            assert not (await kv.transaction([condition])).succeeded, condition

    async def test_a_read_at_an_older_revision_sees_that_revision(self, kv: KeyValueStore) -> None:
        first = await kv.put("/h/a", b"1")
        await kv.put("/h/a", b"2")
        await kv.put("/h/b", b"new")
        then = await kv.range("/h/", prefix=True, revision=first.revision)
        assert [(item.key, item.value) for item in then.kvs] == [(b"/h/a", b"1")]

    async def test_history_before_a_compaction_is_gone(self, kv: KeyValueStore) -> None:
        first = await kv.put("/h/a", b"1")
        second = await kv.put("/h/a", b"2")
        await kv.compact(second.revision)
        with pytest.raises(Gone):
            await kv.range("/h/a", revision=first.revision)
        assert (await kv.range("/h/a", revision=second.revision)).kvs[0].value == b"2"
        with pytest.raises(Gone):
            await anext(aiter(kv.watch("/h/a", start_revision=first.revision)))
        with pytest.raises(Gone):
            await kv.compact(first.revision)

    async def test_a_watch_replays_from_its_revision_then_follows(self, kv: KeyValueStore) -> None:
        first = await kv.put("/w/a", b"1")
        await kv.put("/w/a", b"2")
        await kv.put("/x/a", b"not watched")
        events = kv.watch("/w/", prefix=True, start_revision=first.revision, prev_kv=True)
        try:
            replayed = await collect(events, 2)
            await kv.transaction([], [Put("/w/b", b"3"), Delete("/w/a")])
            live = await collect(events, 2)
        finally:
            await events.aclose()
        assert [(e.type, e.kv.key, e.kv.value) for e in replayed] == [
            ("PUT", b"/w/a", b"1"),
            ("PUT", b"/w/a", b"2"),
        ]
        assert replayed[1].prev_kv is not None and replayed[1].prev_kv.value == b"1"
        put, delete = sorted(live, key=lambda e: e.type, reverse=True)
        assert (put.type, put.kv.key, put.kv.version) == ("PUT", b"/w/b", 1)
        assert (delete.type, delete.kv.key) == ("DELETE", b"/w/a")
        assert put.revision == delete.revision == replayed[1].revision + 2
        assert delete.prev_kv is not None and delete.prev_kv.value == b"2"

    async def test_a_watch_from_now_sees_only_later_changes(self, kv: KeyValueStore) -> None:
        await kv.put("/w/a", b"before")
        events = kv.watch("/w/a")
        try:
            waiting = asyncio.ensure_future(collect(events, 1))
            await asyncio.sleep(0.2)  # the watch is in place before the write
            await kv.put("/w/a", b"after")
            (event,) = await waiting
        finally:
            await events.aclose()
        assert event.kv.value == b"after"

    async def test_keys_of_a_revoked_lease_go_with_it(self, kv: KeyValueStore) -> None:
        lease = await kv.lease_grant(30)
        await kv.put("/l/a", b"1", lease=lease.id)
        await kv.put("/l/b", b"2", lease=lease.id)
        await kv.put("/l/kept", b"3")
        stored = await kv.get("/l/a")
        assert stored is not None and stored.lease == lease.id
        assert 0 < await kv.lease_time_to_live(lease.id) <= 30
        await kv.lease_revoke(lease.id)
        assert await kv.get("/l/a") is None and await kv.get("/l/b") is None
        assert await kv.get("/l/kept") is not None
        assert await kv.lease_time_to_live(lease.id) == -1
        await kv.lease_revoke(lease.id)  # gone already: not an error

    async def test_a_put_keeping_its_lease_keeps_it(self, kv: KeyValueStore) -> None:
        lease = await kv.lease_grant(30)
        await kv.put("/l/a", b"1", lease=lease.id)
        await kv.transaction([], [Put("/l/a", b"2", ignore_lease=True)])
        stored = await kv.get("/l/a")
        assert stored is not None and (stored.value, stored.lease) == (b"2", lease.id)
        await kv.put("/l/a", b"3")  # a plain put detaches it
        await kv.lease_revoke(lease.id)
        assert await kv.get("/l/a") is not None

    async def test_a_put_with_an_unknown_lease_is_refused(self, kv: KeyValueStore) -> None:
        lease = await kv.lease_grant(30)
        await kv.lease_revoke(lease.id)
        with pytest.raises(NotFound):
            await kv.put("/l/a", b"1", lease=lease.id)
        assert await kv.get("/l/a") is None

    async def test_an_unkept_lease_expires_with_its_keys(
        self, kv: KeyValueStore, pass_time: PassTime
    ) -> None:
        kept = await kv.lease_grant(2)
        lapsing = await kv.lease_grant(2)
        await kv.put("/l/kept", b"1", lease=kept.id)
        await kv.put("/l/lapsing", b"2", lease=lapsing.id)
        events = kv.watch("/l/lapsing")
        try:
            gone = asyncio.ensure_future(collect(events, 1))
            for _ in range(4):
                await pass_time(1.0)
                assert await kv.lease_keepalive(kept.id) > 0
            await eventually_gone(kv, "/l/lapsing")
            (event,) = await gone
        finally:
            await events.aclose()
        assert event.type == "DELETE"
        assert await kv.get("/l/kept") is not None
        assert await kv.lease_keepalive(lapsing.id) == 0
        assert await kv.lease_time_to_live(lapsing.id) == -1

    async def test_put_results_name_the_revision_written(self, kv: KeyValueStore) -> None:
        result = await kv.put("/p/a", b"1")
        assert isinstance(result, PutResult)
        stored = await kv.get("/p/a")
        assert stored is not None and stored.mod_revision == result.revision
