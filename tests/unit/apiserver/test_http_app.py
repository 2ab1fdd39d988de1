"""The REST API assembled from its services (no app state, no service built in a request),
served in process on the in-memory store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.unit.apiserver.world import ServerWorld
from xene.apiserver.http.app import ApiServices, create_app
from xene.apiserver.services.agent_admin import AgentAdmin
from xene.apiserver.services.health import HealthService
from xene.apiserver.services.triggers import TriggerService
from xene.apiserver.services.webhooks import WebhookService

HELLO = {
    "apiVersion": "xene.dev/v1",
    "kind": "Workflow",
    "metadata": {"name": "hello"},
    "spec": {
        "pipelines": {
            "build": {
                "executor": "process",
                "tasks": {"t": {"steps": [{"name": "s", "run": "true"}]}},
            }
        }
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
        webhooks=WebhookService(world.runs),
        triggers=TriggerService(world.store),
        agents=AgentAdmin(world.store),
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
