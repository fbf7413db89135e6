"""`ami view`: a local web viewer of the memory, FastAPI on loopback, behind a one-time token.

Opened as Jupyter is: the server prints `http://127.0.0.1:PORT/?token=...`; every request must
carry that token, as the `token` query parameter or the cookie the first page sets (HttpOnly,
SameSite=Strict), or it gets 401. Bodies over 64 KiB get 413 before any route reads them, forget
is POST only (GET gets 405), and a keyframe is addressed by its integer id, never by a path.

Pages (one HTML file, no build step; device/app/viewer_page.html): Items, Timeline, Map, Ask and
Forget, over the JSON API below (OpenAPI at /openapi.json, written to docs/viewer-openapi.json).
What they show comes from device/app/memory_view.py.
"""

from __future__ import annotations

import json
import logging
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from core.http import BodyLimit, is_loopback
from device.app.memory_view import ForgetRequest, MemoryView
from device.errors import AmiError
from memory.errors import ItemNotFoundError, KeyframeNotFoundError, MemoryStoreError, ReadOnlyMemoryError

log = logging.getLogger(__name__)

PAGE = Path(__file__).with_name("viewer_page.html")
COOKIE = "ami_view_token"
MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class ViewConfig:
    memory: Path
    host: str = "127.0.0.1"
    port: int = 8766
    allow_remote: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"--port {self.port}: must be 0 to 65535")
        if not is_loopback(self.host) and not self.allow_remote:
            raise ValueError(f"--host {self.host!r} is not a loopback address: the viewer would show your memory "
                             "to the network; pass --allow-remote if that is what you want")


class AskBody(BaseModel):
    text: str = Field(min_length=1, max_length=500, description="a question, as `ami ask` takes it spoken")


class PauseBody(BaseModel):
    paused: bool = Field(description="true: keep nothing the glasses see until resumed; false: resume")


class ForgetBody(BaseModel):
    kind: Literal["item", "place", "last", "all"]
    item: str | None = Field(None, max_length=200, description="kind item: the item's name")
    place: str | None = Field(None, max_length=200, description="kind place: one of your place names")
    minutes: float | None = Field(None, gt=0, description="kind last: the last N minutes")
    confirm: bool = Field(False, description="false: only count what it would erase; true: erase it")


def build_app(view: MemoryView, token: str) -> FastAPI:
    """The viewer's app over `view`, answering only requests that carry `token`."""
    app = FastAPI(title="ami view", version="1", docs_url=None, redoc_url=None,
                  description="The local viewer of an ami-glasses memory. Every request carries the token "
                              "that `ami view` printed: the `token` query parameter or the `ami_view_token` "
                              "cookie. Times are Unix seconds (wall clock).")

    @app.middleware("http")
    async def require_token(request: Request, call_next: Callable[[Request], Any]) -> Any:
        given = request.query_params.get("token") or request.cookies.get(COOKIE) or ""
        if not secrets.compare_digest(given.encode(), token.encode()):
            return JSONResponse({"detail": "no or wrong token: open the address `ami view` printed"}, 401)
        return await call_next(request)

    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)

    @app.exception_handler(MemoryStoreError)
    @app.exception_handler(AmiError)
    async def refused(request: Request, e: Exception) -> JSONResponse:
        status = (404 if isinstance(e, (KeyframeNotFoundError, ItemNotFoundError))
                  else 409 if isinstance(e, ReadOnlyMemoryError) else 400)
        return JSONResponse({"detail": str(e)}, status)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        response = HTMLResponse(PAGE.read_text())
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    @app.get("/api/items", summary="Each enrolled item: where it is believed to be, since when, the evidence")
    def items() -> list[dict[str, Any]]:
        return view.items()

    @app.get("/api/items/{name}/hypotheses", summary="The world model's rival places for an item, with energies")
    def hypotheses(name: str) -> list[dict[str, Any]]:
        return view.hypotheses(name)

    @app.get("/api/places", summary="The wearer's names for places")
    def places() -> list[dict[str, Any]]:
        return view.places()

    @app.get("/api/timeline", summary="Keyframes stored from <= recorded_at < to (Unix s), oldest first")
    def timeline(since: float | None = Query(None, alias="from"),
                 until: float | None = Query(None, alias="to")) -> list[dict[str, Any]]:
        return view.timeline(since, until)

    @app.get("/api/keyframes/{keyframe_id}", summary="One keyframe: when, where, the items seen in it")
    def keyframe(keyframe_id: int) -> dict[str, Any]:
        return view.keyframe(keyframe_id)

    @app.get("/api/keyframes/{keyframe_id}/thumbnail", summary="The keyframe's JPEG, faces blurred",
             response_class=Response, responses={200: {"content": {"image/jpeg": {}}}, 404: {}})
    def thumbnail(keyframe_id: int) -> Response:
        jpeg = view.thumbnail(keyframe_id)
        if jpeg is None:
            return JSONResponse({"detail": f"keyframe {keyframe_id} has no thumbnail"}, 404)
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/api/map.png", summary="Top-down map: your path, named places, where each item is believed "
             "(with ?item=, its rival places and their energies)",
             response_class=Response, responses={200: {"content": {"image/png": {}}}})
    def map_png(item: str | None = None) -> Response:
        return Response(view.map_png(item), media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.get("/api/pause", summary="Whether the memory is paused (nothing seen is kept), and since when")
    def paused() -> dict[str, Any]:
        return view.pause()

    @app.post("/api/pause", summary="Pause (paused true) or resume keeping what the glasses see",
              description="Kept in the memory: the glasses, `ami listen` and `ami replay` honour it until resumed.")
    def pause(body: PauseBody) -> dict[str, Any]:
        return view.pause(body.paused)

    @app.post("/api/ask", summary="Ask a question as `ami ask` does; the answer and its evidence")
    def ask(body: AskBody) -> dict[str, Any]:
        return view.ask(body.text)

    @app.post("/api/forget", summary="Forget by item, place, the last N minutes or everything",
              description="With confirm false, nothing is erased: the answer says what would go.")
    def forget(body: ForgetBody) -> dict[str, Any]:
        request = ForgetRequest(body.kind, item=body.item, place=body.place, minutes=body.minutes)
        return view.forget(request, body.confirm)

    return app


def openapi_json(app: FastAPI) -> str:
    """The OpenAPI document as written to docs/viewer-openapi.json."""
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


def _say(line: str) -> None:
    print(line, flush=True)  # at once, even into a pipe: whoever started the viewer waits for its address


def serve(config: ViewConfig, announce: Callable[[str], None] = _say) -> None:
    """Open the memory, print the address with its one-time token, and serve until interrupted."""
    import uvicorn

    view = MemoryView(config.memory)
    try:
        token = secrets.token_urlsafe(24)
        app = build_app(view, token)
        if not is_loopback(config.host):
            log.warning("serving on %s: reachable from the network; only requests with the token are served",
                        config.host)
        sock = socket.create_server((config.host, config.port))  # port 0: a free one, known before serving
        port = sock.getsockname()[1]
        stats = view.store.stats()
        announce(f"ami view: {config.memory} ({stats['keyframes']} keyframes, {stats['items']} items, "
                 f"{stats['thumbnails']} thumbnails). Open http://{config.host}:{port}/?token={token}")
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        server.run(sockets=[sock])
    finally:
        view.close()
