"""EtcdClient against a real etcd: raw operations, outages, failover, timeouts."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

from tests.fixtures.etcd import EtcdServer
from xene.api.errors import Unavailable
from xene.store.etcd import EtcdClient
from xene.store.kv import Compare, Delete, DeleteResult, Get, Put, RangeResult
from xene.store.objects import ObjectStore


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """An address that accepts TCP connections and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"127.0.0.1:{listener.getsockname()[1]}"


async def test_get_put_delete_report_revisions(etcd_client: EtcdClient):
    put = await etcd_client.put("/t/a", b"1")
    kv = await etcd_client.get("/t/a")
    assert kv is not None
    assert (kv.value, kv.mod_revision, kv.create_revision, kv.version) == (
        b"1",
        put.revision,
        put.revision,
        1,
    )
    again = await etcd_client.put("/t/a", b"2", prev_kv=True)
    assert again.prev_kv is not None and again.prev_kv.value == b"1"
    kv = await etcd_client.get("/t/a")
    assert kv is not None and (kv.version, kv.create_revision) == (2, put.revision)
    deleted = await etcd_client.delete("/t/a", prev_kv=True)
    assert deleted.deleted == 1 and deleted.prev_kvs[0].value == b"2"
    assert await etcd_client.get("/t/a") is None


async def test_get_prefix_is_sorted_and_carries_the_read_revision(etcd_client: EtcdClient):
    await etcd_client.put("/t/b", b"2")
    await etcd_client.put("/t/a", b"1")
    await etcd_client.put("/u/c", b"3")
    last = await etcd_client.put("/t0", b"not under /t/")
    result = await etcd_client.get_prefix("/t/")
    assert [kv.key for kv in result.kvs] == [b"/t/a", b"/t/b"]
    assert result.revision == last.revision


async def test_transaction_runs_success_or_failure_ops(etcd_client: EtcdClient):
    created = await etcd_client.transaction(
        [Compare.missing("/t/k")], [Put("/t/k", b"v1")], [Get("/t/k")]
    )
    assert created.succeeded
    kv = await etcd_client.get("/t/k")
    assert kv is not None and kv.mod_revision == created.revision

    again = await etcd_client.transaction(
        [Compare.missing("/t/k")], [Put("/t/k", b"v2")], [Get("/t/k")]
    )
    assert not again.succeeded
    found = again.responses[0]
    assert isinstance(found, RangeResult) and found.kvs[0].value == b"v1"

    swapped = await etcd_client.transaction(
        [Compare.mod_revision_is("/t/k", kv.mod_revision), Compare.value_is("/t/k", b"v1")],
        [Delete("/t/k", prev_kv=True)],
    )
    assert swapped.succeeded
    removed = swapped.responses[0]
    assert isinstance(removed, DeleteResult) and removed.prev_kvs[0].value == b"v1"


async def test_status_reports_the_member(etcd_server: EtcdServer, etcd_client: EtcdClient):
    status = await etcd_client.status()
    assert status.endpoint == etcd_server.endpoint
    assert status.version.startswith("3.")
    assert status.leader == status.member_id


async def test_etcd_down_is_unavailable_quickly_and_names_the_endpoint():
    endpoint = f"127.0.0.1:{unused_port()}"
    async with EtcdClient([endpoint], timeout=5.0) as client:
        started = time.monotonic()
        with pytest.raises(Unavailable, match=f"etcd at {endpoint} is unreachable"):
            await client.get("/x")
        assert time.monotonic() - started < 3.0
        with pytest.raises(Unavailable):
            await client.put("/x", b"1")


async def test_connect_fails_clearly_when_nothing_answers():
    with pytest.raises(Unavailable, match="unreachable"):
        await ObjectStore.connect([f"127.0.0.1:{unused_port()}"])


async def test_a_server_that_never_answers_times_out(silent_endpoint: str):
    async with EtcdClient([silent_endpoint], timeout=1.0) as client:
        started = time.monotonic()
        with pytest.raises(Unavailable, match=f"etcd at {silent_endpoint} is unreachable"):
            await client.get("/x")
        assert time.monotonic() - started < 4.0


async def test_fails_over_to_the_next_endpoint(etcd_server: EtcdServer):
    dead = f"127.0.0.1:{unused_port()}"
    async with EtcdClient([dead, f"http://{etcd_server.endpoint}"], timeout=2.0) as client:
        await client.put("/t/a", b"1")
        kv = await client.get("/t/a")
        assert kv is not None and kv.value == b"1"
        assert (await client.status()).endpoint == etcd_server.endpoint


async def test_all_endpoints_down_names_each_of_them():
    first, second = f"127.0.0.1:{unused_port()}", f"127.0.0.1:{unused_port()}"
    async with EtcdClient(f"{first},{second}", timeout=2.0) as client:
        with pytest.raises(Unavailable) as caught:
            await client.get("/x")
    assert first in str(caught.value) and second in str(caught.value)


async def test_calls_work_again_right_after_etcd_comes_back(
    etcd_server: EtcdServer, etcd_client: EtcdClient
):
    await etcd_client.put("/t/a", b"1")
    etcd_server.kill()
    with pytest.raises(Unavailable):
        await etcd_client.get("/t/a")
    await asyncio.sleep(1.0)  # let the channel's reconnect backoff grow
    etcd_server.start()
    kv = await etcd_client.get("/t/a")
    assert kv is not None and kv.value == b"1"
