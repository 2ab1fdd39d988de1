"""XeneClient: requests it sends, and Status errors turned into xene.api.errors exceptions."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from tests.unit.ctl.fake_api import FakeApiServer, status, workflow_object
from xene.api.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Gone,
    Invalid,
    NotFound,
    TooLarge,
    Unauthenticated,
    Unavailable,
)
from xene.ctl.client import ServerError, XeneClient, error_from_status
from xene.ctl.errors import ServerUnreachable


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def client_for(fake: FakeApiServer, token: str | None = None) -> XeneClient:
    return XeneClient("http://xene.test:8080", token, transport=fake.transport)


def test_get_list_apply_delete_round_trip(fake_api: FakeApiServer) -> None:
    with client_for(fake_api) as client:
        action, stored = client.apply(workflow_object("hello"))
        assert action == "created"
        assert stored["metadata"]["name"] == "hello"
        assert client.apply(workflow_object("hello"))[0] == "unchanged"
        assert client.get("workflows", "hello")["kind"] == "Workflow"
        listing = client.list("workflows")
        assert [item["metadata"]["name"] for item in listing.items] == ["hello"]
        assert listing.resource_version == "100"
        assert listing.to_dict()["kind"] == "List"
        assert client.delete("workflows", "hello")["metadata"]["name"] == "hello"
        with pytest.raises(NotFound, match="'hello' not found"):
            client.get("workflows", "hello")


def test_label_selector_and_token_are_sent(fake_api: FakeApiServer) -> None:
    with client_for(fake_api, token="t0k") as client:
        client.list("agents", "os=linux,zone=a")
    request = fake_api.requests[-1]
    assert request.url.params["labelSelector"] == "os=linux,zone=a"
    assert request.headers["Authorization"] == "Bearer t0k"


def test_names_are_quoted_into_one_path_segment(fake_api: FakeApiServer) -> None:
    with client_for(fake_api) as client:
        with pytest.raises(NotFound):
            client.get("workflows", "a/../../version")
        with pytest.raises(Invalid):
            client.get("workflows", "..")
    assert fake_api.requests[-1].url.raw_path == b"/api/v1/workflows/a%2F..%2F..%2Fversion"


def test_invalid_status_keeps_every_cause(fake_api: FakeApiServer) -> None:
    fake_api.rejections["bad"] = status(
        422,
        "Invalid",
        "two problems",
        [
            {
                "field": "spec.pipelines.build.tasks.a.dependencies[0]",
                "message": "cycle a -> b -> a",
            },
            {"field": "metadata.name", "message": "too long"},
        ],
    )
    with client_for(fake_api) as client, pytest.raises(Invalid) as caught:
        client.apply(workflow_object("bad"))
    assert [str(e) for e in caught.value.errors] == [
        "spec.pipelines.build.tasks.a.dependencies[0]: cycle a -> b -> a",
        "metadata.name: too long",
    ]


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [
        (400, "BadRequest", BadRequest),
        (401, "Unauthenticated", Unauthenticated),
        (404, "NotFound", NotFound),
        (409, "AlreadyExists", AlreadyExists),
        (409, "Conflict", Conflict),
        (410, "Gone", Gone),
        (413, "TooLarge", TooLarge),
        (422, "Invalid", Invalid),
        (503, "Unavailable", Unavailable),
        (405, "MethodNotAllowed", ServerError),
        (500, "InternalError", ServerError),
    ],
)
def test_status_codes_map_to_the_error_hierarchy(code: int, reason: str, expected: type) -> None:
    error = error_from_status(status(code, reason, "the message"), code)
    assert type(error) is expected
    assert error.message == "the message"


def test_an_answer_that_is_not_a_status_still_reads() -> None:
    error = error_from_status("<html>Bad Gateway</html>", 502)
    assert isinstance(error, ServerError)
    assert error.message == "HTTP 502: <html>Bad Gateway</html>"


def test_watch_yields_events_and_raises_gone_on_a_compacted_revision(
    fake_api: FakeApiServer,
) -> None:
    fake_api.watch_lines = [
        {"type": "ADDED", "object": workflow_object("a")},
        {"type": "DELETED", "object": workflow_object("a")},
        {"type": "ERROR", "object": status(410, "Gone", "revision 3 was compacted")},
    ]
    seen = []
    with client_for(fake_api) as client, pytest.raises(Gone, match="compacted"):
        for event in client.watch("workflows", resource_version="3", label_selector="x=y"):
            seen.append((event.type, event.object["metadata"]["name"]))
    assert seen == [("ADDED", "a"), ("DELETED", "a")]
    params = fake_api.requests[-1].url.params
    assert (params["watch"], params["resourceVersion"], params["labelSelector"]) == (
        "true",
        "3",
        "x=y",
    )


def test_a_closed_port_is_reported_as_unreachable_with_the_address() -> None:
    port = closed_port()
    with (
        XeneClient(f"http://127.0.0.1:{port}") as client,
        pytest.raises(ServerUnreachable) as caught,
    ):
        client.list("workflows")
    assert isinstance(caught.value, Unavailable)
    assert caught.value.message == (
        f"cannot reach the Xene API server at http://127.0.0.1:{port} (connection refused)"
    )


def test_a_timeout_is_reported_as_unreachable() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with XeneClient("http://xene.test", transport=httpx.MockTransport(hang)) as client:
        with pytest.raises(ServerUnreachable, match=r"\(timed out\)"):
            client.version()


class _CutStream(httpx.SyncByteStream):
    """One event, then the connection drops as when the server dies mid-watch."""

    def __iter__(self):
        yield (json.dumps({"type": "ADDED", "object": workflow_object("a")}) + "\n").encode()
        raise httpx.RemoteProtocolError("peer closed connection")


def test_a_watch_cut_mid_stream_is_reported_as_unreachable() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, stream=_CutStream()))
    seen = []
    with XeneClient("http://xene.test", transport=transport) as client:
        with pytest.raises(ServerUnreachable, match="closed unexpectedly"):
            for event in client.watch("workflows"):
                seen.append(event.object["metadata"]["name"])
    assert seen == ["a"]
