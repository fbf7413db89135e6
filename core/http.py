"""HTTP pieces both local servers share (the companion, `ami view`): loopback checks and a body
limit that answers before any route parses anything."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any, Callable

from fastapi.responses import JSONResponse

READ_TIMEOUT_S = 10.0  # a request body that sends nothing for this long is dropped (408)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost may resolve anywhere
        return False


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` gets 413 before any route sees it, and one
    that stalls (a Content-Length of 1e10, then nothing) gets 408 after `read_timeout_s` without a
    byte, instead of holding the connection."""

    def __init__(self, app: Any, max_bytes: int, read_timeout_s: float = READ_TIMEOUT_S) -> None:
        self.app, self.max_bytes, self.read_timeout_s = app, max_bytes, read_timeout_s

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            try:
                message = await asyncio.wait_for(receive(), self.read_timeout_s)
            except asyncio.TimeoutError:
                detail = f"the request body stalled: no byte for {self.read_timeout_s:g} s"
                await JSONResponse({"detail": detail}, status_code=408)(scope, receive, send)
                return
            if message["type"] != "http.request":  # the client went away
                return
            size += len(message.get("body", b""))
            if size <= self.max_bytes:
                chunks.append(message.get("body", b""))
            elif size > 16 * self.max_bytes:  # stop reading a flood; the connection closes after the answer
                break
            more = message.get("more_body", False)
        if size > self.max_bytes:
            detail = f"request body is {size} bytes or more; at most {self.max_bytes} bytes are accepted"
            await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)
            return
        body, replayed = b"".join(chunks), False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
