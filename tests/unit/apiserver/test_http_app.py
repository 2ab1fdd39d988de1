"""The REST API assembled from its services (no app state, no service built in a request),
served in process on the in-memory store: objects, runs, and the operator's verbs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.unit.apiserver.world import ServerWorld
from xene.api.pipeline import Pipeline
from xene.apiserver.http.app import ApiServices, create_app
from xene.apiserver.services.health import HealthService

HELLO_TASKS = {"t": {"steps": [{"name": "s", "run": "true"}]}}
HELLO = {
    "apiVersion": "xene.dev/v1",
    "kind": "Workflow",
    "metadata": {"name": "hello"},
    "spec": {
        "triggers": [
            {"name": "push", "type": "webhook", "secretEnv": "HOOK_SECRET"},
            {"name": "nightly", "type": "cron", "schedule": "0 3 * * *"},
        ],
        "pipelines": {
            "build": {
                "executor": "process",
                "triggers": ["push", "nightly"],
                "tasks": HELLO_TASKS,
            }
        },
    },
}


@pytest.fixture
async def client(world: ServerWorld) -> AsyncIterator[httpx.AsyncClient]:
    services = ApiServices(
        objects=world.objects,
        health=HealthService(world.store),
        runs=world.runs,
        logs=world.logs,
        reports=world.reports,
        webhooks=world.webhooks,
        triggers=world.triggers,
        agents=world.agent_admin,
    )
    app = create_app(services, api_token="secret")
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": "Bearer secret"}
    async with httpx.AsyncClient(transport=transport, base_url="http://api", headers=headers) as c:
        yield c


async def test_apply_derive_run_and_cancel_through_the_api(
    world: ServerWorld, client: httpx.AsyncClient
) -> None:
    assert (await client.get("/readyz")).status_code == 200
    applied = await client.post("/api/v1/apply", json=HELLO)
    assert applied.status_code == 201, applied.text
    await world.caught_up()
    await world.workflows.reconcile("hello")

    started = await client.post("/api/v1/workflows/hello/pipelines/build/runs")
    assert started.status_code == 201, started.text
    assert started.json()["metadata"]["name"] == "hello.build.1"
    cancelled = await client.post("/api/v1/pipelineruns/hello.build.1/cancel")
    assert cancelled.status_code == 202
    assert cancelled.json()["status"]["phase"] == "Cancelled"
    events = (await client.get("/api/v1/pipelineruns/hello.build.1/events")).json()["items"]
    assert [e["kind"] for e in events] == ["RunCancelled"]
    listed = (await client.get("/api/v1/pipelineruns", params={"phase": "Cancelled"})).json()
    assert [r["metadata"]["name"] for r in listed["items"]] == ["hello.build.1"]


async def test_the_token_guards_the_api_but_not_health_or_webhooks(
    client: httpx.AsyncClient,
) -> None:
    anonymous = {"Authorization": ""}
    assert (await client.get("/api/v1/workflows", headers=anonymous)).status_code == 401
    assert (await client.get("/healthz", headers=anonymous)).status_code == 200
    missing = await client.post(
        "/api/v1/webhooks/hello/build/push", content=b"{}", headers=anonymous
    )
    assert missing.status_code == 404


async def applied(world: ServerWorld, client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/v1/apply", json=HELLO)).status_code == 201
    await world.caught_up()
    await world.workflows.reconcile("hello")
    await world.caught_up()


async def test_rerun_and_delete_of_runs(world: ServerWorld, client: httpx.AsyncClient) -> None:
    await applied(world, client)
    started = await client.post(
        "/api/v1/workflows/hello/pipelines/build/runs", json={"parameters": {"A": "1"}}
    )
    assert started.status_code == 201, started.text

    rerun = await client.post("/api/v1/pipelineruns/hello.build.1/rerun")
    assert rerun.status_code == 201, rerun.text
    body = rerun.json()
    assert body["metadata"]["name"] == "hello.build.2"
    assert body["spec"]["parameters"] == {"A": "1"}
    assert body["spec"]["trigger"]["rerunOf"] == "hello.build.1"
    assert (await client.post("/api/v1/pipelineruns/nope.1/rerun")).status_code == 404

    await world.connect("a1")
    await world.place("hello.build", "a1")
    held = (await client.post("/api/v1/workflows/hello/pipelines/build/runs")).json()
    assert held["status"]["agent"] == "a1"
    refused = await client.delete("/api/v1/pipelineruns/hello.build.3")
    assert refused.status_code == 409
    assert "xenectl cancel hello.build.3" in refused.json()["message"]

    await world.logs.append_events("hello.build.2", [{"kind": "RunCreated"}])
    deleted = await client.delete("/api/v1/pipelineruns/hello.build.2")
    assert deleted.status_code == 200, deleted.text
    assert (await client.get("/api/v1/pipelineruns/hello.build.2")).status_code == 404
    assert await world.logs.read_events("hello.build.2") == []  # its events went with it
    assert (await client.delete("/api/v1/pipelineruns/hello.build.2")).status_code == 404


async def test_suspend_resume_and_the_webhook_address_of_triggers(
    world: ServerWorld, client: httpx.AsyncClient
) -> None:
    await applied(world, client)
    suspended = await client.post("/api/v1/triggers/hello.nightly/suspend")
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["spec"]["suspend"] is True
    resumed = await client.post("/api/v1/triggers/hello.nightly/resume")
    assert resumed.json()["spec"]["suspend"] is False
    assert (await client.post("/api/v1/triggers/hello.nope/suspend")).status_code == 404

    webhook = await client.get("/api/v1/triggers/hello.push/webhook")
    assert webhook.status_code == 200, webhook.text
    assert webhook.json() == {
        "trigger": "hello.push",
        "urls": ["http://api/api/v1/webhooks/hello/build/push"],
        "secret": {"present": True, "env": "HOOK_SECRET"},
    }
    not_a_webhook = await client.get("/api/v1/triggers/hello.nightly/webhook")
    assert not_a_webhook.status_code == 422
    assert "is a cron trigger, not a webhook" in not_a_webhook.text


async def test_cordon_uncordon_and_delete_of_agents(
    world: ServerWorld, client: httpx.AsyncClient
) -> None:
    await world.connect("a1")
    cordoned = await client.post("/api/v1/agents/a1/cordon")
    assert cordoned.status_code == 200 and cordoned.json()["spec"]["unschedulable"] is True
    uncordoned = await client.post("/api/v1/agents/a1/uncordon")
    assert uncordoned.json()["spec"]["unschedulable"] is False
    refused = await client.delete("/api/v1/agents/a1")
    assert refused.status_code == 409 and "xenectl cordon a1" in refused.json()["message"]
    assert (await client.post("/api/v1/agents/nobody/cordon")).status_code == 404


async def test_lists_filter_by_label_selector_expressions(
    world: ServerWorld, client: httpx.AsyncClient
) -> None:
    await applied(world, client)
    await world.store.create(
        Pipeline.model_validate(
            {
                "metadata": {"name": "other.p", "labels": {"xene.dev/workflow": "other"}},
                "spec": {"workflow": "other", "pipeline": "p", "tasks": HELLO_TASKS},
            }
        )
    )

    async def names(selector: str) -> list[str]:
        listed = await client.get("/api/v1/pipelines", params={"labelSelector": selector})
        assert listed.status_code == 200, listed.text
        return [item["metadata"]["name"] for item in listed.json()["items"]]

    assert await names("xene.dev/workflow in (hello)") == ["hello.build"]
    assert await names("xene.dev/workflow!=hello") == ["other.p"]
    assert await names("xene.dev/workflow") == ["hello.build", "other.p"]
    bad = await client.get("/api/v1/pipelines", params={"labelSelector": "a in (b"})
    assert bad.status_code == 400
