"""The run endpoints of the REST API and xenectl's run commands against a real xene-apiserver.

No agent runs here: runs stay Pending unless a test plays the agent over the real gRPC stream.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.helpers import REPO, eventually
from tests.fixtures.agents import apply_workflow, placements, workflow
from tests.fixtures.servers import ApiServerProcess, console_script, make_apiserver
from tests.integration.runs.stream_agent import StreamAgent


def xenectl(server: ApiServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script("xenectl"), *args],
        env=server.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def wait_pipeline(client: httpx.Client, name: str) -> None:
    eventually(lambda: client.get(f"/api/v1/pipelines/{name}").status_code == 200)


@pytest.fixture
def client(apiserver: ApiServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=apiserver.url, timeout=10) as http:
        yield http


def test_manual_runs_are_numbered_listed_filtered_and_cancelled(
    apiserver: ApiServerProcess, client: httpx.Client
) -> None:
    apply_workflow(apiserver, workflow("wf", {"build": {}, "lint": {}}))
    wait_pipeline(client, "wf.build")
    wait_pipeline(client, "wf.lint")

    def start(_: int) -> httpx.Response:
        return client.post("/api/v1/pipelines/wf.build/runs", json={"parameters": {"N": "1"}})

    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(start, range(4)))
    assert [r.status_code for r in responses] == [201] * 4, responses[0].text
    assert sorted(r.json()["spec"]["number"] for r in responses) == [1, 2, 3, 4]
    first = responses[0].json()
    assert first["status"]["phase"] == "Pending"
    assert first["spec"]["trigger"]["type"] == "manual"
    assert first["spec"]["parameters"] == {"N": "1"}
    assert first["metadata"]["labels"]["xene.dev/pipeline"] == "wf.build"

    other = client.post("/api/v1/workflows/wf/pipelines/lint/runs")
    assert other.status_code == 201, other.text
    assert other.json()["metadata"]["name"] == "wf.lint.1"

    listed = client.get(
        "/api/v1/pipelineruns", params={"labelSelector": "xene.dev/pipeline=wf.build"}
    ).json()
    assert [item["spec"]["number"] for item in listed["items"]] == [4, 3, 2, 1]

    cancelled = client.post("/api/v1/pipelineruns/wf.build.2/cancel")
    assert cancelled.status_code == 202
    assert cancelled.json()["status"]["phase"] == "Cancelled"
    again = client.post("/api/v1/pipelineruns/wf.build.2/cancel")
    assert again.status_code == 202 and again.json()["status"]["phase"] == "Cancelled"
    only = client.get("/api/v1/pipelineruns", params={"phase": "Cancelled"}).json()["items"]
    assert [item["metadata"]["name"] for item in only] == ["wf.build.2"]
    events = client.get("/api/v1/pipelineruns/wf.build.2/events").json()["items"]
    assert [event["kind"] for event in events] == ["RunCancelled"]
    assert client.get("/api/v1/pipelineruns/wf.build.1/events").json() == {"items": []}

    # A finished run has all its logs: a follow ends at once.
    started = time.monotonic()
    logs = client.get("/api/v1/pipelineruns/wf.build.2/logs", params={"follow": "true"})
    assert logs.status_code == 200 and logs.text == ""
    assert logs.headers["content-type"].startswith("text/plain")
    assert time.monotonic() - started < 3


def test_bad_run_requests_get_status_bodies(
    apiserver: ApiServerProcess, client: httpx.Client
) -> None:
    apply_workflow(apiserver, workflow("wf", {"build": {}}))
    wait_pipeline(client, "wf.build")

    missing = client.post("/api/v1/pipelines/nope.build/runs")
    assert missing.status_code == 404
    assert missing.json()["message"] == "pipeline 'nope.build' not found"

    bad = client.post(
        "/api/v1/pipelines/wf.build/runs", json={"parameters": {"9LIVES": "x", "OK": 3}}
    )
    assert bad.status_code == 422
    fields = [cause["field"] for cause in bad.json()["details"]["causes"]]
    assert fields == ["parameters.9LIVES", "parameters.OK"]

    huge = client.post(
        "/api/v1/pipelines/wf.build/runs", json={"parameters": {"BIG": "x" * (1 << 20)}}
    )
    assert huge.status_code == 413 and huge.json()["reason"] == "TooLarge"

    garbled = client.post("/api/v1/pipelines/wf.build/runs", content=b"{nope")
    assert garbled.status_code == 400 and garbled.json()["kind"] == "Status"

    phase = client.get("/api/v1/pipelineruns", params={"phase": "Done"})
    assert phase.status_code == 422
    assert "'Done' is not one of Pending, Running" in phase.json()["message"]

    for path in ("logs", "events", "cancel"):
        method = "POST" if path == "cancel" else "GET"
        response = client.request(method, f"/api/v1/pipelineruns/wf.build.9/{path}")
        assert response.status_code == 404, path
        assert response.json()["message"] == "pipelinerun 'wf.build.9' not found"
    # Nothing was created by the refused requests.
    assert client.get("/api/v1/pipelineruns").json()["items"] == []


def test_xenectl_run_runs_cancel_logs(apiserver: ApiServerProcess, client: httpx.Client) -> None:
    apply_workflow(apiserver, workflow("wf", {"build": {}}))
    wait_pipeline(client, "wf.build")

    created = xenectl(apiserver, "run", "wf/build", "-p", "GREETING=hi")
    assert created.returncode == 0, created.stderr
    assert created.stdout == "pipelinerun.xene.dev/wf.build.1 created\n"
    assert client.get("/api/v1/pipelineruns/wf.build.1").json()["spec"]["parameters"] == {
        "GREETING": "hi"
    }

    listed = xenectl(apiserver, "runs", "--pipeline", "wf/build", "--status", "Pending")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split()[:4] == ["NAME", "PIPELINE", "RUN", "PHASE"]
    assert row.split()[:4] == ["wf.build.1", "wf.build", "1", "Pending"]

    cancelled = xenectl(apiserver, "cancel", "wf/build")
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout == "pipelinerun.xene.dev/wf.build.1 cancelled\n"

    # A cancelled run has ended: --wait on a new run is not needed to see it; logs are empty.
    logs = xenectl(apiserver, "logs", "wf/build", "--run", "1", "-f")
    assert logs.returncode == 0 and logs.stdout == "", logs.stderr

    unknown = xenectl(apiserver, "run", "wf/nope")
    assert unknown.returncode == 1
    assert unknown.stderr == "error: pipeline 'wf.nope' not found\n"
    malformed = xenectl(apiserver, "run", "wf/build", "-p", "oops")
    assert malformed.returncode == 1
    assert "'oops' is not key=value" in malformed.stderr
    no_runs = xenectl(apiserver, "logs", "wf/other")
    assert no_runs.returncode == 1
    assert "wf/other has no runs yet" in no_runs.stderr


# ---- notifiers, and a run played by a stand-in agent --------------------------------------------


class Receiver:
    """An HTTP endpoint on 127.0.0.1 that records every POST."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


@pytest.fixture
def hanging_url() -> Iterator[str]:
    """A port that takes connections (the kernel's backlog) but never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook"


@pytest.fixture
def notifying_apiserver(
    etcd_server: Any, tmp_path: Path, receiver: Receiver, hanging_url: str
) -> Iterator[ApiServerProcess]:
    config = tmp_path / "apiserver.yaml"
    config.write_text(
        json.dumps(
            {
                "notifiers": [
                    {
                        "url": receiver.url,
                        "events": ["RunSucceeded", "RunFailed"],
                        "secret_env": "HOOK_SECRET",
                    },
                    {"url": hanging_url, "timeout_seconds": 1, "retries": 0},
                ]
            }
        )
    )
    server = make_apiserver(tmp_path, etcd_server.endpoint, "--config", str(config))
    server.env["HOOK_SECRET"] = "hook-secret"
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.stop()


async def test_followed_logs_and_notifications_of_a_run(
    notifying_apiserver: ApiServerProcess, receiver: Receiver
) -> None:
    server = notifying_apiserver
    apply_workflow(server, workflow("wf", {"build": {}}))
    agent = await StreamAgent(server.grpc_address, "worker", "").connect()
    try:
        deadline = time.monotonic() + 20
        while placements(server).get("wf.build") != "worker":
            assert time.monotonic() < deadline, "wf.build was not placed on the agent"
            await asyncio.sleep(0.1)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            created = await http.post("/api/v1/pipelines/wf.build/runs")
            assert created.status_code == 201, created.text
            while not agent.commands("start_run"):
                assert time.monotonic() < deadline + 20, "no StartRun"
                await asyncio.sleep(0.05)
            agent.ack(agent.commands("start_run")[0].id)
            agent.run_update("wf.build.1", 1, 1, {"phase": "Running"}, [{"kind": "RunStarted"}])
            agent.log_chunk("wf.build.1", 1, 2, "main", "hello", "line 1")

            async with http.stream(
                "GET", "/api/v1/pipelineruns/wf.build.1/logs", params={"follow": "true"}
            ) as stream:
                lines = stream.aiter_lines()
                async with asyncio.timeout(10):
                    assert await anext(lines) == "[main/hello] line 1"
                agent.log_chunk("wf.build.1", 1, 3, "main", "hello", "line 2")
                async with asyncio.timeout(10):
                    assert await anext(lines) == "[main/hello] line 2"
                agent.log_chunk("wf.build.1", 1, 4, "main", "hello", "line 3")
                agent.run_update(
                    "wf.build.1",
                    1,
                    5,
                    {"phase": "Succeeded"},
                    [{"kind": "RunSucceeded", "run_id": "wf.build.1"}],
                )
                async with asyncio.timeout(10):
                    rest = [line async for line in lines]
            assert rest == ["[main/hello] line 3"]
            # The hanging notifier did not hold up the stream's acknowledgements.
            while agent.acked_seqs()[-1:] != [5]:
                assert time.monotonic() < deadline + 30, agent.acked_seqs()
                await asyncio.sleep(0.05)

            raw = await http.get(
                "/api/v1/pipelineruns/wf.build.1/logs", params={"task": "main", "step": "hello"}
            )
            assert raw.text == "line 1\nline 2\nline 3\n"

            while len(receiver.requests) < 1:
                assert time.monotonic() < deadline + 30, "no notification arrived"
                await asyncio.sleep(0.05)
            headers, body = receiver.requests[0]
            notification = json.loads(body)
            assert notification["event"] == "RunSucceeded"
            assert notification["run"]["name"] == "wf.build.1"
            expected = hmac.new(b"hook-secret", body, hashlib.sha256).hexdigest()
            assert headers["X-Xene-Signature-256"] == f"sha256={expected}"

            async def notifier_failures() -> list[dict[str, Any]]:
                events = (await http.get("/api/v1/pipelineruns/wf.build.1/events")).json()
                return [e for e in events["items"] if e["kind"] == "NotifierFailed"]

            while not await notifier_failures():
                assert time.monotonic() < deadline + 40, "the notifier failure was not recorded"
                await asyncio.sleep(0.1)
            failure = (await notifier_failures())[0]
            assert "no answer within 1s" in failure["message"]
            kinds = [
                e["kind"]
                for e in (await http.get("/api/v1/pipelineruns/wf.build.1/events")).json()["items"]
            ]
            assert kinds[:2] == ["RunStarted", "RunSucceeded"]
            # Only the events the first notifier asked for were sent to it.
            assert len(receiver.requests) == 1
    finally:
        await agent.close()
