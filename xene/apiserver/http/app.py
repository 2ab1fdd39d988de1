"""The FastAPI application: health probes, the object routes, auth and error mapping."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from xene import __version__
from xene.apiserver.http.agents import build_agent_router
from xene.apiserver.http.auth import check_bearer
from xene.apiserver.http.errors import install_error_handlers
from xene.apiserver.http.objects import build_router
from xene.apiserver.http.runs import build_run_router
from xene.apiserver.http.triggers import build_trigger_router
from xene.apiserver.http.webhooks import build_webhook_router
from xene.apiserver.services.agent_admin import AgentAdmin
from xene.apiserver.services.health import HealthService
from xene.apiserver.services.objects import ObjectService
from xene.apiserver.services.triggers import TriggerService


def create_app(
    objects: ObjectService,
    health: HealthService,
    *,
    triggers: TriggerService,
    agents: AgentAdmin,
    api_token: str = "",
    max_body_bytes: int = 1 << 20,
    identity: str = "",
) -> FastAPI:
    """Assemble the REST API around its services."""
    app = FastAPI(title="Xene API", version=__version__)
    install_error_handlers(app)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> JSONResponse:
        await health.check_ready()
        # The replica's identity lets a script that started a server tell it from another
        # one already answering on the same port.
        return JSONResponse({"status": "ok", "identity": identity})

    @app.get("/version", tags=["health"])
    async def version() -> dict[str, str]:
        return {"version": __version__}

    async def authenticate(request: Request) -> None:
        check_bearer(request, api_token)

    # Run, trigger and agent routes first: their GET /pipelineruns (phase filter) and
    # DELETE /pipelineruns|agents/{name} shadow the generic routes.
    app.include_router(
        build_run_router(objects, max_body_bytes), dependencies=[Depends(authenticate)]
    )
    app.include_router(
        build_trigger_router(objects, triggers), dependencies=[Depends(authenticate)]
    )
    app.include_router(build_agent_router(agents), dependencies=[Depends(authenticate)])
    app.include_router(build_router(objects, max_body_bytes), dependencies=[Depends(authenticate)])
    # Signed by the sender (HMAC), not by the API token.
    app.include_router(build_webhook_router(max_body_bytes))
    return app
