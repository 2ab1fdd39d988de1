"""Routes for agents under /api/v1: cordon, uncordon, and deleting one that is NotReady."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from xene.apiserver.services.agent_admin import AgentAdmin


def build_agent_router(agents: AgentAdmin) -> APIRouter:
    """The /api/v1/agents/{name}/… routes; include it before the generic object routes."""
    router = APIRouter(prefix="/api/v1", tags=["agents"])

    @router.post("/agents/{name}/cordon")
    async def cordon(name: str) -> JSONResponse:
        """No new pipelines are placed on the agent; what it has stays."""
        return JSONResponse((await agents.set_unschedulable(name, True)).to_dict())

    @router.post("/agents/{name}/uncordon")
    async def uncordon(name: str) -> JSONResponse:
        """The agent takes new pipelines again."""
        return JSONResponse((await agents.set_unschedulable(name, False)).to_dict())

    @router.delete("/agents/{name}")
    async def delete(name: str) -> JSONResponse:
        """Remove a NotReady agent; 409 with a hint while it is Ready."""
        return JSONResponse((await agents.delete(name)).to_dict())

    return router
