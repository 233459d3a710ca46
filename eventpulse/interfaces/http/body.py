"""Reading a JSON request body within limits: 415, 413 and 400 answers name the problem.

Shared by the FastAPI routes and the ASGI fast path (`fast_ingest.py`): both hand over the
headers and an async iterator of body chunks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import Request

from eventpulse.domain.errors import PayloadTooLarge
from eventpulse.interfaces.http.errors import BadBody


async def read_json(
    content_type: str | None,
    content_length: str | None,
    chunks: AsyncIterator[bytes],
    max_bytes: int,
) -> Any:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        shown = content_type or "none"
        raise BadBody(415, f"Content-Type must be application/json (got {shown})")
    if content_length is not None and content_length.isdigit() and int(content_length) > max_bytes:
        raise PayloadTooLarge(f"request body is {content_length} bytes; the limit is {max_bytes}")
    body = await _within(chunks, max_bytes)
    if not body:
        raise BadBody(400, "request body is empty; expected JSON")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadBody(400, f"malformed JSON: {exc}") from exc


async def request_json(request: Request, max_bytes: int) -> Any:
    """`read_json` for a FastAPI route's request."""
    headers = request.headers
    return await read_json(
        headers.get("content-type"), headers.get("content-length"), request.stream(), max_bytes
    )


async def _within(chunks: AsyncIterator[bytes], max_bytes: int) -> bytes:
    """The body, refused as soon as it grows past the limit (chunked bodies declare no size)."""
    first = b""
    rest: bytearray | None = None
    async for chunk in chunks:
        if rest is None and not first:
            first = chunk
            size = len(first)
        else:
            rest = rest if rest is not None else bytearray(first)
            rest += chunk
            size = len(rest)
        if size > max_bytes:
            raise PayloadTooLarge(f"request body exceeds the limit of {max_bytes} bytes")
    return bytes(rest) if rest is not None else first
