"""Reading request bodies: a size cap before parsing, and one document per request."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from xene.api.documents import ParseError, parse_documents
from xene.api.errors import BadRequest, TooLarge


async def read_capped(request: Request, max_bytes: int) -> bytes:
    """The body, refusing (413) anything over `max_bytes` without reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"request body is {int(declared)} bytes; the limit is {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"request body exceeds the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_document(request: Request, max_bytes: int) -> dict[str, Any]:
    """Exactly one JSON or YAML object from the body; 400 when it is not parseable."""
    raw = await read_capped(request, max_bytes)
    if not raw.strip():
        raise BadRequest("request body is empty; send one object as JSON or YAML")
    try:
        documents = parse_documents(raw, source="request body", max_bytes=max_bytes)
    except ParseError as exc:
        raise BadRequest(exc.message) from exc
    if len(documents) != 1:
        raise BadRequest(
            f"request body holds {len(documents)} objects; send exactly one per request"
        )
    return documents[0]
