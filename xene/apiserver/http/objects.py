"""Routes for objects of every kind under /api/v1."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from xene import __version__
from xene.api.errors import BadRequest, Gone, Invalid, Unavailable
from xene.api.kinds import resolve_kind
from xene.api.meta import API_VERSION, Resource
from xene.api.selectors import LabelSelector, parse_selector
from xene.apiserver.http.body import read_document
from xene.apiserver.http.errors import error_body
from xene.apiserver.services.objects import ObjectService


def parse_label_selector(text: str | None) -> LabelSelector | None:
    """The `labelSelector` query parameter (Kubernetes grammar); 400 naming what is wrong."""
    if not text:
        return None
    try:
        return parse_selector(text)
    except Invalid as exc:
        raise BadRequest(exc.message) from None


def _matches(obj: Resource, selector: LabelSelector | None) -> bool:
    return selector is None or selector.matches(obj.metadata.labels)


def list_body(kind: type[Resource], items: list[Resource], revision: int) -> dict[str, Any]:
    """A `{Kind}List` response body: the items and the revision they were read at."""
    return {
        "apiVersion": API_VERSION,
        "kind": f"{kind.kind_name}List",
        "metadata": {"resourceVersion": str(revision)},
        "items": [item.to_dict() for item in items],
    }


def _event_line(event_type: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": event_type, "object": obj}).encode() + b"\n"


async def watch_stream(
    service: ObjectService,
    kind: type[Resource],
    selector: LabelSelector | None,
    resource_version: int | None,
) -> AsyncIterator[bytes]:
    """NDJSON watch events of a kind after `resource_version` (None: list first, as ADDED);
    a watch that cannot go on ends with an ERROR event carrying the error body."""
    try:
        if resource_version is None:
            items, revision = await service.list(kind, selector)
            for item in items:
                yield _event_line("ADDED", item.to_dict())
            resource_version = revision
        async for event in service.watch(kind, resource_version + 1):
            if _matches(event.object, selector):
                yield _event_line(event.type, event.object.to_dict())
    except (Gone, Unavailable) as exc:
        _, body = error_body(exc)
        yield _event_line("ERROR", body)


def build_router(service: ObjectService, max_body_bytes: int) -> APIRouter:
    """The /api/v1 object routes, bound to one ObjectService."""
    router = APIRouter(prefix="/api/v1")

    @router.get("/version", tags=["meta"])
    async def version() -> dict[str, str]:
        return {"version": __version__, "apiVersion": API_VERSION}

    @router.post("/apply", tags=["objects"], status_code=200)
    async def apply(request: Request) -> JSONResponse:
        """Create or update one object (a Workflow) given as JSON or YAML."""
        document = await read_document(request, max_body_bytes)
        action, obj = await service.apply(document)
        return JSONResponse(
            {"action": action, "object": obj.to_dict()},
            status_code=201 if action == "created" else 200,
        )

    @router.get("/{plural}", tags=["objects"])
    async def list_objects(
        plural: str,
        labelSelector: Annotated[str | None, Query()] = None,
        watch: Annotated[bool, Query()] = False,
        resourceVersion: Annotated[int | None, Query(ge=0)] = None,
    ) -> Response:
        """List a kind, or stream its changes with `watch=true`."""
        kind = resolve_kind(plural)
        selector = parse_label_selector(labelSelector)
        if watch:
            return StreamingResponse(
                watch_stream(service, kind, selector, resourceVersion),
                media_type="application/x-ndjson",
            )
        items, revision = await service.list(kind, selector)
        return JSONResponse(list_body(kind, items, revision))

    @router.get("/{plural}/{name}", tags=["objects"])
    async def get_object(plural: str, name: str) -> JSONResponse:
        """One object."""
        return JSONResponse((await service.get(resolve_kind(plural), name)).to_dict())

    @router.post("/{plural}", tags=["objects"], status_code=201)
    async def create_object(plural: str, request: Request) -> JSONResponse:
        """Create an object; 409 when the name is taken."""
        service.check_writable(resolve_kind(plural))
        document = await read_document(request, max_body_bytes)
        return JSONResponse((await service.create(document)).to_dict(), status_code=201)

    @router.put("/{plural}/{name}", tags=["objects"])
    async def replace_object(plural: str, name: str, request: Request) -> JSONResponse:
        """Replace an object; compare-and-swap when metadata.resourceVersion is given."""
        service.check_writable(resolve_kind(plural))
        document = await read_document(request, max_body_bytes)
        return JSONResponse((await service.replace(name, document)).to_dict())

    @router.delete("/{plural}/{name}", tags=["objects"])
    async def delete_object(
        plural: str,
        name: str,
        resourceVersion: Annotated[str | None, Query()] = None,
    ) -> JSONResponse:
        """Delete an object; its derived objects follow."""
        deleted = await service.delete(resolve_kind(plural), name, resourceVersion)
        return JSONResponse(deleted.to_dict())

    return router
