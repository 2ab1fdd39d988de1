"""Routes for triggers under /api/v1: suspend and resume by hand, and a webhook's delivery URLs
with whether this server holds its secret."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from xene.api.errors import FieldError, Invalid
from xene.api.trigger import Trigger
from xene.apiserver.http.webhooks import webhook_path
from xene.apiserver.services.objects import ObjectService
from xene.apiserver.services.triggers import TriggerService
from xene.apiserver.services.webhooks import WebhookService


def build_trigger_router(
    objects: ObjectService, triggers: TriggerService, webhooks: WebhookService
) -> APIRouter:
    """The /api/v1/triggers/{name}/… routes; include it before the generic object routes."""
    router = APIRouter(prefix="/api/v1", tags=["triggers"])

    @router.post("/triggers/{name}/suspend")
    async def suspend(name: str) -> JSONResponse:
        """Stop the trigger from starting runs; it holds across re-applies of its workflow
        until the workflow itself changes `suspend`."""
        return JSONResponse((await triggers.set_suspended(name, True)).to_dict())

    @router.post("/triggers/{name}/resume")
    async def resume(name: str) -> JSONResponse:
        """Let a suspended trigger start runs again."""
        return JSONResponse((await triggers.set_suspended(name, False)).to_dict())

    @router.get("/triggers/{name}/webhook")
    async def webhook(name: str, request: Request) -> JSONResponse:
        """A webhook trigger's delivery URLs (one per pipeline) and whether this server has its
        secret; the secret itself is never sent."""
        trigger = await objects.get(Trigger, name)
        assert isinstance(trigger, Trigger)
        if trigger.spec.type != "webhook":
            raise Invalid(
                [
                    FieldError(
                        "type", f"trigger '{name}' is a {trigger.spec.type} trigger, not a webhook"
                    )
                ]
            )
        base = str(request.base_url).rstrip("/")
        urls = []
        for pipeline in trigger.spec.pipelines:
            entry = pipeline.removeprefix(f"{trigger.spec.workflow}.")
            urls.append(base + webhook_path(trigger.spec.workflow, entry, trigger.spec.name))
        problem = webhooks.secret_problem(trigger)
        secret: dict[str, object] = {"present": problem is None}
        if trigger.spec.secretEnv:
            secret["env"] = trigger.spec.secretEnv
        if trigger.spec.secretFile:
            secret["file"] = trigger.spec.secretFile
        if problem is not None:
            secret["problem"] = problem
        return JSONResponse({"trigger": name, "urls": urls, "secret": secret})

    return router
