"""The FastAPI application: health probes, the object routes, auth, error mapping, the web UI."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from xene import __version__
from xene.apiserver.http.agents import build_agent_router
from xene.apiserver.http.auth import Authenticator, build_session_router
from xene.apiserver.http.errors import install_error_handlers
from xene.apiserver.http.objects import build_router
from xene.apiserver.http.runs import build_run_router
from xene.apiserver.http.triggers import build_trigger_router
from xene.apiserver.http.ui import build_ui_router, install_docs
from xene.apiserver.http.webhooks import build_webhook_router
from xene.apiserver.services.agent_admin import AgentAdmin
from xene.apiserver.services.health import HealthService
from xene.apiserver.services.logstore import LogStore
from xene.apiserver.services.objects import ObjectService
from xene.apiserver.services.run_index import RunIndex
from xene.apiserver.services.run_reports import RunReportService
from xene.apiserver.services.runs import RunService
from xene.apiserver.services.triggers import TriggerService
from xene.apiserver.services.webhooks import WebhookService


@dataclass(frozen=True)
class ApiServices:
    """Everything the REST API serves from, built once by the server before it listens."""

    objects: ObjectService
    health: HealthService
    runs: RunService
    logs: LogStore
    reports: RunReportService
    webhooks: WebhookService
    triggers: TriggerService
    agents: AgentAdmin
    # Run lists come from it when present; without one, from a read of every run.
    run_index: RunIndex | None = None


def create_app(
    services: ApiServices,
    *,
    api_token: str = "",
    max_body_bytes: int = 1 << 20,
    identity: str = "",
) -> FastAPI:
    """Assemble the REST API around its services."""
    app = FastAPI(title="Xene API", version=__version__, docs_url=None, redoc_url=None)
    install_error_handlers(app)
    install_docs(app)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> JSONResponse:
        await services.health.check_ready()
        # The replica's identity lets a script that started a server tell it from another
        # one already answering on the same port.
        return JSONResponse({"status": "ok", "identity": identity})

    @app.get("/version", tags=["health"])
    async def version() -> dict[str, str]:
        return {"version": __version__}

    auth = Authenticator(api_token)

    async def authenticate(request: Request) -> None:
        auth.identify(request)

    # Login, logout and whoami must answer callers that have no credentials yet.
    app.include_router(build_session_router(auth))

    # Run, trigger and agent routes first: their GET /pipelineruns (phase filter) and
    # DELETE /pipelineruns|agents/{name} shadow the generic routes.
    runs = build_run_router(
        services.objects,
        services.runs,
        services.logs,
        services.reports,
        max_body_bytes,
        run_index=services.run_index,
    )
    app.include_router(runs, dependencies=[Depends(authenticate)])
    triggers = build_trigger_router(services.objects, services.triggers, services.webhooks)
    app.include_router(triggers, dependencies=[Depends(authenticate)])
    app.include_router(build_agent_router(services.agents), dependencies=[Depends(authenticate)])
    objects = build_router(services.objects, max_body_bytes)
    app.include_router(objects, dependencies=[Depends(authenticate)])
    # Signed by the sender (HMAC), not by the API token.
    app.include_router(build_webhook_router(services.webhooks, max_body_bytes))
    # The page shell and its scripts hold no data: every datum comes through /api/v1.
    app.include_router(build_ui_router())
    return app
