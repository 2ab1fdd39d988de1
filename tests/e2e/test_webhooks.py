"""The webhook endpoint of a real xene-apiserver on a real etcd: signatures, limits, retries.

No agent runs here: the runs a delivery creates stay Pending, which is all these tests look at.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.helpers import eventually, load_example
from tests.fixtures.etcd import EtcdServer
from tests.fixtures.servers import ApiServerProcess, make_apiserver

HERE = Path(__file__).parent
GITHUB_PUSH = (HERE.parent / "unit/apiserver/webhooks/github_push.json").read_bytes()
SECRET = "webhook-secret-7f3a9c"
FILE_SECRET = "file-secret-51e2b0"
MAX_BODY = 200_000


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServerProcess]:
    """One etcd and one apiserver for the whole module (each test uses its own workflow)."""
    workdir = tmp_path_factory.mktemp("webhooks")
    etcd = EtcdServer(workdir / "etcd")
    etcd.start()
    secret_file = workdir / "hook-secret"
    secret_file.write_text(FILE_SECRET + "\n")
    apiserver = make_apiserver(workdir, etcd.endpoint)
    apiserver.env["HOOK_SECRET"] = SECRET
    apiserver.env["XENE_APISERVER_MAX_BODY_BYTES"] = str(MAX_BODY)
    apiserver.env["HOOK_SECRET_FILE"] = str(secret_file)
    try:
        apiserver.start()
        yield apiserver
    finally:
        if apiserver.process is not None and apiserver.process.poll() is None:
            try:
                apiserver.stop()
            except subprocess.TimeoutExpired:
                pass
        etcd.stop()


@pytest.fixture
def client(server: ApiServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield http


def apply_hook_workflow(client: httpx.Client, name: str, secret_file: str | None = None) -> None:
    hook: dict[str, Any] = {"name": "on-push", "type": "webhook"}
    if secret_file:
        hook["secretFile"] = secret_file
    else:
        hook["secretEnv"] = "HOOK_SECRET"
    task = {"tasks": {"main": {"steps": [{"name": "s", "run": "echo $XENE_BRANCH"}]}}}
    document = {
        "apiVersion": "xene.dev/v1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {
            "triggers": [hook, {"name": "nightly", "type": "cron", "schedule": "@daily"}],
            "pipelines": {
                "build": {"triggers": ["on-push", "nightly"], "executor": "process", **task},
                "lint": {"triggers": ["nightly"], "executor": "process", **task},
            },
        },
    }
    response = client.post("/api/v1/apply", json=document)
    assert response.status_code in (200, 201), response.text
    for path in (f"triggers/{name}.on-push", f"pipelines/{name}.build", f"pipelines/{name}.lint"):
        eventually(lambda path=path: client.get(f"/api/v1/{path}").status_code == 200)


def runs_of(client: httpx.Client, pipeline: str) -> list[dict[str, Any]]:
    response = client.get(
        "/api/v1/pipelineruns", params={"labelSelector": f"xene.dev/pipeline={pipeline}"}
    )
    response.raise_for_status()
    return response.json()["items"]


def deliver(
    client: httpx.Client,
    path: str,
    body: bytes,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return client.post(
        f"/api/v1/webhooks/{path}",
        content=body,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def test_signed_github_push_starts_a_run_carrying_the_push_fields(
    server: ApiServerProcess, client: httpx.Client
) -> None:
    apply_hook_workflow(client, "gh")
    response = deliver(
        client,
        "gh/build/on-push",
        GITHUB_PUSH,
        {
            "X-Hub-Signature-256": sign(GITHUB_PUSH),
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        },
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["run"] == "gh.build.1" and body["number"] == 1 and body["created"] is True
    assert body["url"] == f"{server.url}/api/v1/pipelineruns/gh.build.1"
    run = client.get(body["url"]).json()
    assert run["status"]["phase"] == "Pending"
    assert run["spec"]["env"] == {
        "XENE_REF": "refs/heads/main",
        "XENE_BRANCH": "main",
        "XENE_COMMIT": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
        "XENE_REPOSITORY": "octo-org/hello-world",
        "XENE_SENDER": "octocat",
        "XENE_EVENT": "push",
        "XENE_DELIVERY": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    }
    trigger = run["spec"]["trigger"]
    assert trigger["type"] == "webhook" and trigger["name"] == "on-push"
    assert json.loads(trigger["payload"]) == json.loads(GITHUB_PUSH)
    status = client.get("/api/v1/triggers/gh.on-push").json()["status"]
    assert status["lastRun"] == "gh.build.1" and status["lastFireTime"]


def test_retried_delivery_returns_the_first_run(client: httpx.Client) -> None:
    apply_hook_workflow(client, "retry")
    body = b'{"action": "deploy"}'
    headers = {"X-Xene-Signature-256": sign(body), "X-Xene-Delivery": "delivery-1"}
    first = deliver(client, "retry/build/on-push", body, headers)
    again = deliver(client, "retry/build/on-push", body, headers)
    assert first.status_code == again.status_code == 202, again.text
    assert first.json()["run"] == again.json()["run"] == "retry.build.1"
    assert (first.json()["created"], again.json()["created"]) == (True, False)
    other = deliver(client, "retry/build/on-push", body, {**headers, "X-Xene-Delivery": "d-2"})
    assert other.json()["run"] == "retry.build.2"
    assert len(runs_of(client, "retry.build")) == 2
    # Any other JSON is handed to steps as it was sent, and no push variables are made up.
    run = client.get("/api/v1/pipelineruns/retry.build.1").json()
    assert run["spec"]["trigger"]["payload"] == body.decode()
    assert run["spec"]["env"] == {"XENE_DELIVERY": "delivery-1"}


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing signature"),
        ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, "wrong signature"),
        ({"X-Hub-Signature-256": sign(GITHUB_PUSH, "guessed")}, "wrong signature"),
        ({"X-Xene-Signature-256": "not-a-signature"}, "wrong signature"),
    ],
)
def test_missing_or_wrong_signature_is_401_and_creates_nothing(
    client: httpx.Client, headers: dict[str, str], reason: str
) -> None:
    apply_hook_workflow(client, "sig")
    response = deliver(client, "sig/build/on-push", GITHUB_PUSH, headers)
    assert response.status_code == 401, response.text
    assert reason in response.json()["message"]
    assert runs_of(client, "sig.build") == []


@pytest.mark.parametrize(
    "path",
    [
        "nowhere/build/on-push",  # no such workflow
        "miss/build/no-such-trigger",
        "miss/nope/on-push",  # no such pipeline
        "miss/lint/on-push",  # lint does not use on-push
        "miss/build/nightly",  # a cron trigger
    ],
)
def test_unknown_targets_are_404_and_create_nothing(client: httpx.Client, path: str) -> None:
    apply_hook_workflow(client, "miss")
    body = b"{}"
    response = deliver(client, path, body, {"X-Hub-Signature-256": sign(body)})
    assert response.status_code == 404, response.text
    assert runs_of(client, "miss.build") == [] and runs_of(client, "miss.lint") == []


def test_oversized_and_unreadable_bodies_are_refused(client: httpx.Client) -> None:
    apply_hook_workflow(client, "big")
    huge = json.dumps({"blob": "x" * MAX_BODY}).encode()
    response = deliver(client, "big/build/on-push", huge, {"X-Hub-Signature-256": sign(huge)})
    assert response.status_code == 413, response.text
    # Under the request limit but more than a run keeps for its steps.
    large = json.dumps({"blob": "x" * 100_000}).encode()
    response = deliver(client, "big/build/on-push", large, {"X-Hub-Signature-256": sign(large)})
    assert response.status_code == 413 and "payload" in response.json()["message"]
    form = b"payload=%7B%7D"
    response = deliver(client, "big/build/on-push", form, {"X-Hub-Signature-256": sign(form)})
    assert response.status_code == 400 and "not JSON" in response.json()["message"]
    assert runs_of(client, "big.build") == []


def test_secret_file_and_github_ping(server: ApiServerProcess, client: httpx.Client) -> None:
    apply_hook_workflow(client, "filed", secret_file=server.env["HOOK_SECRET_FILE"])
    body = b'{"zen": "Keep it logically awesome."}'
    ping = {"X-Hub-Signature-256": sign(body, FILE_SECRET), "X-GitHub-Event": "ping"}
    response = deliver(client, "filed/build/on-push", body, ping)
    assert response.status_code == 200 and "pong" in response.json()["message"]
    assert runs_of(client, "filed.build") == []
    wrong = deliver(client, "filed/build/on-push", body, {"X-Hub-Signature-256": sign(body)})
    assert wrong.status_code == 401
    push = {"X-Hub-Signature-256": sign(body, FILE_SECRET)}
    assert deliver(client, "filed/build/on-push", body, push).status_code == 202
    assert len(runs_of(client, "filed.build")) == 1


def test_secrets_never_show_in_objects_or_logs(
    server: ApiServerProcess, client: httpx.Client
) -> None:
    apply_hook_workflow(client, "leak")
    deliver(client, "leak/build/on-push", b"{}", {"X-Hub-Signature-256": sign(b"{}")})
    deliver(client, "leak/build/on-push", b"{}", {"X-Hub-Signature-256": "sha256=" + "1" * 64})
    for plural in ("workflows", "triggers", "pipelines", "pipelineruns"):
        text = client.get(f"/api/v1/{plural}").text
        assert SECRET not in text and FILE_SECRET not in text
    logs = server.logs()
    assert SECRET not in logs and FILE_SECRET not in logs


def test_the_triggers_example_applies_as_is(client: httpx.Client) -> None:
    document = load_example("triggers.yaml")
    response = client.post("/api/v1/apply", json=document)
    assert response.status_code in (200, 201), response.text
    # The controller creates the workflow's triggers one after the other: wait for both.
    triggers = eventually(
        lambda: (
            found
            if len(
                found := {
                    item["metadata"]["name"]: item["spec"]
                    for item in client.get("/api/v1/triggers").json()["items"]
                    if item["metadata"]["name"].startswith("triggers.")
                }
            )
            == 2
            else None
        )
    )
    assert triggers["triggers.nightly"]["type"] == "cron"
    assert triggers["triggers.on-push"]["type"] == "webhook"
    assert triggers["triggers.on-push"]["pipelines"] == ["triggers.build"]
