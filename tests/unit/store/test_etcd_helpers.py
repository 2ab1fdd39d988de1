"""Pure helpers of the etcd client: endpoint parsing, key ranges, compares, error mapping."""

from __future__ import annotations

import grpc
import pytest

from xene.api.errors import Gone, Invalid, TooLarge, Unavailable
from xene.store.etcd import (
    Compare,
    Endpoint,
    EtcdClient,
    compare_message,
    parse_endpoints,
    prefix_range_end,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:2379", Endpoint("127.0.0.1", 2379)),
        ("http://127.0.0.1:12379", Endpoint("127.0.0.1", 12379)),
        ("http://etcd-1:2379/", Endpoint("etcd-1", 2379)),
        ("localhost", Endpoint("localhost", 2379)),
        ("[::1]:2379", Endpoint("::1", 2379)),
        ("http://[::1]", Endpoint("::1", 2379)),
    ],
)
def test_endpoint_forms(text: str, expected: Endpoint):
    assert parse_endpoints([text]) == [expected]


def test_a_comma_joined_string_is_a_list():
    assert parse_endpoints("a:1, b:2") == [Endpoint("a", 1), Endpoint("b", 2)]
    assert str(Endpoint("::1", 2379)) == "[::1]:2379"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("https://e:2379", "TLS"),
        ("ftp://e:2379", "unknown scheme"),
        ("e:notaport", "not a number"),
        ("e:70000", "not a number"),
        ("::1:2379", "[addr]:port"),
        ("", "empty"),
    ],
)
def test_bad_endpoints_are_named(text: str, problem: str):
    with pytest.raises(Invalid, match="etcd endpoints") as caught:
        parse_endpoints(["good:1", text])
    assert problem in str(caught.value)
    assert caught.value.errors[0].path == "etcd endpoints[1]"


def test_no_endpoints_is_invalid():
    with pytest.raises(Invalid, match="at least one"):
        parse_endpoints([])


def test_prefix_range_end_covers_exactly_the_prefix():
    assert prefix_range_end(b"/xene/registry/agents/") == b"/xene/registry/agents0"
    assert prefix_range_end(b"a\xff") == b"b"
    assert prefix_range_end(b"\xff\xff") == b"\0"


def test_compares_become_etcd_messages():
    message = compare_message(Compare.mod_revision_is("/k", 42))
    assert (message.key, message.mod_revision) == (b"/k", 42)
    assert compare_message(Compare.missing("/k")).version == 0
    assert compare_message(Compare.value_is("/k", "v")).value == b"v"
    with pytest.raises(TypeError, match="needs an int"):
        compare_message(Compare("/k", "mod", "==", b"x"))


class _RpcError(grpc.aio.AioRpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)


@pytest.mark.parametrize(
    ("code", "details", "expected"),
    [
        (grpc.StatusCode.UNKNOWN, "raft proposal dropped", Unavailable),
        (grpc.StatusCode.UNKNOWN, "etcdserver: request timed out", Unavailable),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "etcdserver: too many requests", Unavailable),
        (grpc.StatusCode.INVALID_ARGUMENT, "etcdserver: request is too large", TooLarge),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "Sent message larger than max (9 vs. 4)", TooLarge),
        (
            grpc.StatusCode.OUT_OF_RANGE,
            "etcdserver: mvcc: required revision has been compacted",
            Gone,
        ),
    ],
)
def test_etcd_server_trouble_is_unavailable_not_an_internal_error(code, details, expected) -> None:
    client = EtcdClient("127.0.0.1:2379")
    translated = client._translate(client.endpoints[0], _RpcError(code, details))
    assert type(translated) is expected
    assert details in translated.message
