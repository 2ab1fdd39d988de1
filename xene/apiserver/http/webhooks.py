"""`POST /api/v1/webhooks/{workflow}/{pipeline}/{trigger}`: signed deliveries start runs.

Not behind the API's bearer token: senders (GitHub, GitLab, scripts) prove themselves with the
HMAC signature of the body instead (see services/webhooks.py).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from xene.apiserver.http.body import read_capped
from xene.apiserver.services.webhooks import WebhookService


def build_webhook_router(webhooks: WebhookService, max_body_bytes: int) -> APIRouter:
    """The webhook route; bodies over `max_body_bytes` are refused with 413."""
    router = APIRouter(prefix="/api/v1", tags=["webhooks"])

    @router.post("/webhooks/{workflow}/{pipeline}/{trigger}", status_code=202)
    async def deliver(workflow: str, pipeline: str, trigger: str, request: Request) -> JSONResponse:
        found = await webhooks.webhook_trigger(workflow, trigger)
        body = await read_capped(request, max_body_bytes)
        delivery = await webhooks.deliver(workflow, pipeline, found, body, request.headers)
        if delivery.run is None:
            return JSONResponse({"message": delivery.message}, status_code=200)
        run = delivery.run
        name = run.metadata.name
        return JSONResponse(
            {
                "run": name,
                "number": run.spec.number,
                "created": delivery.created,
                "url": str(request.base_url).rstrip("/") + f"/api/v1/pipelineruns/{name}",
            },
            status_code=202,
        )

    return router


def webhook_path(workflow: str, pipeline: str, trigger: str) -> str:
    """The path deliveries of `trigger` for `pipeline` of `workflow` go to (the route above)."""
    return f"/api/v1/webhooks/{workflow}/{pipeline}/{trigger}"
