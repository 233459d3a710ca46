"""Reading a JSON request body within limits: 415, 413 and 400 answers name the problem."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import HTTPException, Request

from eventpulse.domain.errors import PayloadTooLarge


async def read_json(request: Request, max_bytes: int) -> Any:
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        shown = content_type or "none"
        raise HTTPException(415, f"Content-Type must be application/json (got {shown})")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"request body is {declared} bytes; the limit is {max_bytes}")
    body = await _body_within(request, max_bytes) if declared is None else await request.body()
    if not body:
        raise HTTPException(400, "request body is empty; expected JSON")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HTTPException(400, f"malformed JSON: {exc}") from exc


async def _body_within(request: Request, max_bytes: int) -> bytes:
    """A chunked body, refused as soon as it grows past the limit."""
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > max_bytes:
            raise PayloadTooLarge(f"request body exceeds the limit of {max_bytes} bytes")
    return bytes(chunks)
