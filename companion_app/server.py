"""The companion's HTTP app (FastAPI) and `serve`, which `ami companion serve` runs under uvicorn.

Routes (see docs/companion.md and docs/companion-openapi.json):
- GET /v1/health: no auth; which checkpoint and device plan.
- POST /v1/pair: the one-time code -> device id and secret.
- POST /v1/plan: signed; start and goal latents -> actions, energies, compute time.

Order of checks on /v1/plan: body size (413, before anything is parsed), signature (401: nothing
is parsed for an unauthenticated sender), rate (429), then the schema (422 naming the field).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ValidationError

from core.http import READ_TIMEOUT_S, BodyLimit, is_loopback
from companion_app.auth import AuthConfig, Authenticator
from companion_app.batcher import Batcher
from companion_app.errors import RequestRejected
from companion_app.planner import Bounds, PlanJob, Planner, PlannerConfig, Predictor, Waypoint, pick_device
from companion_app.schemas import Health, PairRequest, PairResponse, PlanRequest, PlanResponse

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
API_VERSION = "1"


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8765
    allow_remote: bool = False  # binding a non-loopback address needs this, on purpose
    checkpoint: Path | None = None  # None: the shipped worldmodel/artifacts/jepa-v1.pt
    state_dir: Path = Path("~/.ami/companion")
    device: str | None = None  # None: cuda when torch sees a GPU, else cpu
    threads: int = 1  # torch CPU threads for planning
    max_body_bytes: int = MAX_BODY_BYTES
    read_timeout_s: float = READ_TIMEOUT_S
    batch_window_ms: float = 3.0
    max_batch: int = 64
    auth: AuthConfig = field(default_factory=AuthConfig)
    planner: PlannerConfig = field(default_factory=PlannerConfig)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"ServeConfig.port={self.port}: must be 0..65535")
        if self.threads < 1:
            raise ValueError(f"ServeConfig.threads={self.threads}: must be >= 1")
        if self.max_body_bytes < 1024:
            raise ValueError(f"ServeConfig.max_body_bytes={self.max_body_bytes}: must be >= 1024")
        if not is_loopback(self.host) and not self.allow_remote:
            raise ValueError(f"host {self.host!r} is not a loopback address: the companion would be reachable from "
                             "the network; pass --allow-remote if that is what you want")


def describe_errors(e: ValidationError | RequestValidationError, limit: int = 5) -> str:
    """'horizon: Input should be less than or equal to 16; ...': the fields and what is wrong."""
    parts = []
    for err in e.errors()[:limit]:
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    more = len(e.errors()) - limit
    return "invalid request: " + "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _parse(model: type[BaseModel], body: bytes) -> Any:
    try:
        return model.model_validate_json(body)
    except ValidationError as e:
        raise RequestRejected(422, describe_errors(e)) from e


def build_app(config: ServeConfig, predictor: Predictor, latent_dim: int, *,
              clock: Callable[[], float] = time.time, code: str | None = None,
              announce: Callable[[str], None] | None = None) -> FastAPI:
    """The companion app: planner, batcher and authenticator around `predictor`."""
    planner = Planner(predictor, pick_device(config.device), config.planner)
    ttl_min = config.auth.code_ttl_s / 60

    def next_code(code: str) -> None:
        if announce is not None:
            announce(f"paired; the next pairing code (valid once, {ttl_min:.0f} min): {code}")

    auth = Authenticator(Path(config.state_dir).expanduser(), config.auth, clock=clock, code=code,
                         on_new_code=next_code)
    batcher = Batcher(planner, config.batch_window_ms, config.max_batch, threads=config.threads)
    planning: set[str] = set()  # devices with a plan queued or being planned

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        yield
        await batcher.close()

    # No /docs or /redoc: their pages load scripts from a CDN, and the companion works offline.
    app = FastAPI(title="ami companion", version=API_VERSION, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Plans routes in the world model's latent space for paired ami glasses.")
    app.state.auth, app.state.batcher, app.state.planner, app.state.planning = auth, batcher, planner, planning
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes, read_timeout_s=config.read_timeout_s)

    @app.exception_handler(RequestRejected)
    async def _rejected(request: Request, e: RequestRejected) -> JSONResponse:
        log.info("%s %s rejected %d: %s", request.method, request.url.path, e.status, e.detail)
        return JSONResponse({"detail": e.detail}, status_code=e.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": describe_errors(e)}, status_code=422)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> PlainTextResponse:
        return PlainTextResponse("The companion serves no interactive docs page (it would load scripts from the "
                                 "internet, and the companion works offline). Its API: /openapi.json, and "
                                 "docs/companion.md in the ami-glasses repository.\n")

    @app.get("/v1/health", response_model=Health)
    async def health() -> Health:
        return Health(checkpoint=predictor.version, device=planner.device_label)

    @app.post("/v1/pair", response_model=PairResponse, responses={403: {"description": "wrong, used or expired code"}})
    async def pair(request: Request) -> PairResponse:
        req = _parse(PairRequest, await request.body())
        device = auth.pair(req.code, req.device_name)
        return PairResponse(device_id=device.device_id, secret=device.secret, expires_at=device.expires_at)

    @app.post("/v1/plan", response_model=PlanResponse,
              responses={401: {"description": "unsigned, forged, expired or replayed"},
                         413: {"description": "body over 256 KiB"}, 422: {"description": "bad field (named)"},
                         415: {"description": "not application/json"},
                         429: {"description": "over this device's rate, or its previous plan not answered yet"}})
    async def plan(request: Request) -> PlanResponse:
        body = await request.body()
        if request.url.query:  # the signature covers the path, not a query string: nothing may ride on one
            raise RequestRejected(400, "a plan request takes no query string; send everything in the JSON body")
        device = auth.verify(request.method, request.url.path, request.headers, body)
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise RequestRejected(415, f"Content-Type is {kind or 'missing'!r}; send application/json")
        if device.device_id in planning:  # one plan per device at a time: no device can starve the others
            raise RequestRejected(429, "this device already has a plan in progress; wait for its answer")
        req: PlanRequest = _parse(PlanRequest, body)
        if len(req.start.latent) != latent_dim:
            raise RequestRejected(422, f"start.latent has {len(req.start.latent)} values; this companion's predictor "
                                       f"({predictor.version}) takes latents of {latent_dim}")
        c = req.constraints
        job = PlanJob(start=torch.tensor(req.start.latent), goal=torch.tensor(req.goal.latent),
                      bounds=Bounds((c.min_forward_m, -c.max_right_m, -c.max_turn_deg),
                                    (c.max_forward_m, c.max_right_m, c.max_turn_deg)),
                      horizon=req.horizon, planner=req.planner, samples=req.samples, iterations=req.iterations,
                      seed=req.seed, waypoint=None if (w := req.waypoint) is None else
                      Waypoint(w.forward_m, w.right_m, w.radius_m, w.weight))
        planning.add(device.device_id)
        try:
            r = await batcher.submit(job)
        finally:
            planning.discard(device.device_id)
        return PlanResponse(actions=r.actions, energies=r.energies, compute_ms=r.compute_ms, device=r.device,
                            planner=r.planner, checkpoint=r.checkpoint, batch_size=r.batch_size,
                            iterations=r.iterations)

    def openapi() -> dict[str, Any]:
        # /v1/pair and /v1/plan read their bodies themselves (auth needs the raw bytes first), so
        # their request schemas are added here.
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for route, model in (("/v1/pair", PairRequest), ("/v1/plan", PlanRequest)):
            js = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
            components.update(js.pop("$defs", {}))
            components[model.__name__] = js
            schema["paths"][route]["post"]["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}
        schema["paths"]["/v1/plan"]["post"]["description"] = (
            "Signed: headers X-Ami-Device, X-Ami-Timestamp, X-Ami-Nonce, X-Ami-Signature = hex HMAC-SHA256 with "
            "the device secret's 32 bytes over METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nsha256_hex(body).")
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def openapi_json(app: FastAPI) -> str:
    """The OpenAPI document as written to docs/companion-openapi.json."""
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


def warm_up(planner: Planner, latent_dim: int) -> None:
    """Plan once before serving, so the first wearer's request does not pay for allocations."""
    zero = torch.zeros(latent_dim)
    planner.plan(PlanJob(zero, zero, Bounds((0.0, 0.0, -45.0), (0.5, 0.0, 45.0)), samples=16, iterations=2))


def serve(config: ServeConfig, predictor: Any = None, announce: Callable[[str], None] = print) -> None:
    """Load the predictor, print the pairing code and serve until interrupted."""
    import uvicorn

    torch.set_num_threads(config.threads)
    if predictor is None:
        from worldmodel.jepa import load_predictor

        predictor = load_predictor(config.checkpoint, device=str(pick_device(config.device)))
    latent_dim = predictor.config.latent_dim
    app = build_app(config, predictor, latent_dim, announce=announce)
    warm_up(app.state.planner, latent_dim)
    if not is_loopback(config.host):
        log.warning("serving on %s: reachable from the network; only paired, signed requests are served",
                    config.host)
    announce(f"ami companion: {predictor.version} on {app.state.planner.device_label}, "
             f"http://{config.host}:{config.port}, paired devices in {app.state.auth.registry.state_dir}")
    announce(f"pairing code (valid once, {config.auth.code_ttl_s / 60:.0f} min): {app.state.auth.pairing.code}")
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning", access_log=False)
