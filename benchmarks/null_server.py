"""Baseline HTTP server: a bare ASGI app on the product's uvicorn settings, no framework.

`python -m benchmarks.null_server --port P` reads each request body and answers
202 `{"status":"accepted"}`: the ceiling of one uvicorn process (uvloop + httptools) here.
With `--redis-url URL --key KEY` it also XADDs the body (one awaited XADD per request, no
validation, no grouping): the floor cost of a durable single-event ingest.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from redis.asyncio import Redis

_BODY = b'{"status":"accepted"}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())]


def make_app(redis_url: str | None, key: str) -> Any:
    client = Redis.from_url(redis_url) if redis_url else None

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if client is not None:
                        await client.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        status = 200 if scope["method"] == "GET" else 202
        if client is not None and body:
            await client.xadd(key, {b"e": b"[" + body + b"]"})
        await send({"type": "http.response.start", "status": status, "headers": _HEADERS})
        await send({"type": "http.response.body", "body": _BODY})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url")
    parser.add_argument("--key", default="bench:null")
    args = parser.parse_args()
    uvicorn.run(
        make_app(args.redis_url, args.key),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
