"""The glasses' client of the GPU companion: pairing, signed requests, a timeout and a circuit.

The device reaches the companion over HTTP only (never by importing `companion_app`). Pairing
trades the one-time code that `ami companion serve` prints for a device id and a secret, kept
owner-only in the state folder. Every later request is signed with `sign` (HMAC-SHA256 over the
method, path, timestamp, nonce and body hash; the contract the server checks).

Planning must never leave the wearer waiting: a request that cannot connect, times out or gets a
5xx opens the circuit, the caller falls back to on-device guidance at once, and while the circuit
is open nothing is sent. After a back-off (doubling up to a cap) the next route request tries the
companion again; one success closes the circuit. Nothing is sent unless a companion was paired and
the wearer asked for a route.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from device.errors import CompanionError, CompanionUnavailable
from core.files import write_text_atomic
from core.protocol import (DEVICE_HEADER, NONCE_HEADER, PLAN_REQUEST_SCHEMA, PLAN_RESPONSE_SCHEMA, SIGNATURE_HEADER,
                           TIMESTAMP_HEADER, secret_key, signature)

log = logging.getLogger(__name__)

PAIRING_SCHEMA = "ami-companion-pairing/1"
STATE_FILE = "companion.json"  # in the state folder (default: the memory folder)
PLANNERS = ("cem", "gradient")


def _key(secret: str) -> bytes:
    try:
        return secret_key(secret)
    except ValueError as e:
        raise CompanionError(f"the companion {e}; pair again") from e


def sign(secret: str, method: str, path: str, timestamp: str | float, nonce: str, body: bytes) -> str:
    """The request's signature (core/protocol.py). `timestamp` must be the exact text of the
    timestamp header; a float is written as Python's str(float)."""
    ts = timestamp if isinstance(timestamp, str) else str(float(timestamp))
    return signature(_key(secret), method, path, ts, nonce, body)


@dataclass(frozen=True)
class Pairing:
    """What pairing leaves on the glasses: where the companion is and the device's credentials."""

    url: str
    device_id: str
    secret: str
    expires_at: float  # unix seconds
    paired_at: float

    def to_json(self) -> dict[str, Any]:
        return {"schema": PAIRING_SCHEMA, "url": self.url, "device_id": self.device_id, "secret": self.secret,
                "expires_at": self.expires_at, "paired_at": self.paired_at}


def state_path(state_dir: Path) -> Path:
    return Path(state_dir) / STATE_FILE


def save_pairing(state_dir: Path, pairing: Pairing) -> Path:
    """Write the pairing owner-only (0600 in a 0700 folder), atomically."""
    from memory.folder import make_private_folder

    folder = Path(state_dir)
    make_private_folder(folder)
    path = state_path(folder)
    write_text_atomic(path, json.dumps(pairing.to_json(), indent=2) + "\n")  # created 0600
    return path


def load_pairing(state_dir: Path) -> Pairing | None:
    """The saved pairing, or None when this state folder was never paired."""
    path = state_path(state_dir)
    if not path.is_file():
        return None
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CompanionError(f"{path}: not valid JSON ({e}); pair again with `ami companion pair`") from e
    if not isinstance(obj, dict) or obj.get("schema") != PAIRING_SCHEMA:
        raise CompanionError(f"{path}: field 'schema' must be {PAIRING_SCHEMA!r}; pair again with `ami companion pair`")
    for key, kind in (("url", str), ("device_id", str), ("secret", str), ("expires_at", (int, float)),
                      ("paired_at", (int, float))):
        if not isinstance(obj.get(key), kind) or isinstance(obj.get(key), bool):
            raise CompanionError(f"{path}: field {key!r} is missing or of the wrong type; pair again")
    return Pairing(obj["url"], obj["device_id"], obj["secret"], float(obj["expires_at"]), float(obj["paired_at"]))


@dataclass(frozen=True)
class CompanionConfig:
    timeout_s: float = 1.5  # per connect/read/write; a plan that takes longer falls back
    retry_after_s: float = 5.0  # first back-off once the companion failed
    max_retry_after_s: float = 60.0  # the back-off doubles up to this
    horizon: int = 5
    planner: str = "cem"
    samples: int = 300
    iterations: int = 30
    max_forward_m: float = 0.5
    max_turn_deg: float = 45.0
    waypoint_weight: float = 100.0  # energy per squared metre from a waypoint (plan(waypoint=...)); see BENCHMARKS

    def __post_init__(self) -> None:
        for name in ("timeout_s", "retry_after_s", "max_retry_after_s", "max_forward_m", "max_turn_deg",
                     "waypoint_weight"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"CompanionConfig.{name} must be a positive number, got {v!r}")
        if not 1 <= self.horizon <= 16:
            raise ValueError(f"CompanionConfig.horizon must be 1..16, got {self.horizon!r}")
        if self.planner not in PLANNERS:
            raise ValueError(f"CompanionConfig.planner must be one of {PLANNERS}, got {self.planner!r}")
        for name in ("samples", "iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"CompanionConfig.{name} must be >= 1, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class Plan:
    """The companion's answer: pose-delta actions (forward_m, right_m, turn_deg) per step."""

    actions: np.ndarray  # (H, 3) float32
    energies: tuple[float, ...]
    compute_ms: float  # on the companion
    round_trip_ms: float  # on the glasses, request to parsed answer
    device: str
    planner: str
    checkpoint: str


def _check_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise CompanionError(f"companion URL {url!r} must start with http:// or https://")
    return url.rstrip("/")


def pair(url: str, code: str, state_dir: Path, device_name: str = "ami-glasses", timeout_s: float = 5.0) -> Pairing:
    """Trade a one-time pairing code for credentials and save them in `state_dir`."""
    import httpx

    base = _check_url(url)
    try:
        r = httpx.post(f"{base}/v1/pair", json={"code": code, "device_name": device_name}, timeout=timeout_s)
    except httpx.HTTPError as e:
        raise CompanionUnavailable(f"cannot reach the companion at {base} ({e}); is `ami companion serve` "
                                   "running and the URL right?") from e
    if r.status_code != 200:
        raise CompanionError(f"the companion refused pairing ({r.status_code}: {_detail(r)}); the code is valid "
                             "once and for a few minutes: use the one `ami companion serve` printed last")
    body = _json(r)
    try:
        pairing = Pairing(base, str(body["device_id"]), str(body["secret"]), float(body["expires_at"]), time.time())
    except (KeyError, TypeError, ValueError) as e:
        raise CompanionError(f"the companion's pairing answer lacks {e}; is it an ami companion?") from e
    _key(pairing.secret)  # refuse to store a secret that cannot sign
    save_pairing(state_dir, pairing)
    return pairing


def _detail(r: Any) -> str:
    try:
        body = r.json()
    except ValueError:
        return r.text[:200]
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)[:200]


def _json(r: Any) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError as e:
        raise CompanionUnavailable(f"the companion answered {r.status_code} with a body that is not JSON") from e
    if not isinstance(body, dict):
        raise CompanionUnavailable("the companion answered with a JSON value that is not an object")
    return body


@dataclass
class Circuit:
    """Closed: requests go out. Open: none go out until `retry_at`; then one tries (and closes it)."""

    config: CompanionConfig
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    retry_at: float = 0.0
    last_error: str = ""
    history: list[str] = field(default_factory=list)  # "fail", "skip", "ok": for tests and logs

    def allows(self) -> bool:
        return self.failures == 0 or self.clock() >= self.retry_at

    def back_off_s(self) -> float:
        return min(self.config.retry_after_s * 2 ** max(self.failures - 1, 0), self.config.max_retry_after_s)

    def failed(self, why: str) -> None:
        self.failures += 1
        self.last_error = why
        self.retry_at = self.clock() + self.back_off_s()
        self.history.append("fail")
        log.warning("companion unavailable (%s); retrying in %.0f s", why, self.back_off_s())

    def succeeded(self) -> None:
        if self.failures:
            log.info("companion is back after %d failures", self.failures)
        self.failures = 0
        self.history.append("ok")


class CompanionClient:
    """Signed requests to a paired companion, behind a timeout and a circuit. Close it when done."""

    def __init__(self, pairing: Pairing, config: CompanionConfig = CompanionConfig(),
                 clock: Callable[[], float] = time.monotonic) -> None:
        import httpx

        self.pairing = pairing
        self.config = config
        self.circuit = Circuit(config, clock)
        t = config.timeout_s
        self._http = httpx.Client(base_url=pairing.url, timeout=httpx.Timeout(t, connect=t, read=t, write=t, pool=t))
        self._httpx = httpx

    @classmethod
    def from_state(cls, state_dir: Path, config: CompanionConfig = CompanionConfig()) -> CompanionClient | None:
        """A client for the companion paired in `state_dir`, or None when none was paired."""
        pairing = load_pairing(state_dir)
        return None if pairing is None else cls(pairing, config)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CompanionClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def health(self) -> dict[str, Any]:
        """GET /v1/health (no auth); raises CompanionUnavailable when it does not answer ok."""
        return self._request("GET", "/v1/health", None, signed=False)

    def plan(self, start: np.ndarray, goal: np.ndarray, horizon: int | None = None,
             waypoint: tuple[float, float, float] | None = None) -> Plan:
        """Plan from latent `start` (D,) to latent `goal` (D,) on the companion; `waypoint`
        (forward_m, right_m, radius_m) in the wearer's current frame adds a metric target.

        Raises CompanionUnavailable (fall back now) when the circuit is open, or the companion is
        unreachable, slow or failing; CompanionError when it refuses the request (4xx, pairing).
        """
        c = self.config
        if self.pairing.expires_at <= time.time():
            raise CompanionError("the companion pairing has expired; pair again with `ami companion pair`")
        s, g = (np.asarray(v, np.float32).reshape(-1) for v in (start, goal))
        if s.shape != g.shape or not (np.isfinite(s).all() and np.isfinite(g).all()):
            raise CompanionError(f"start and goal latents must be finite and the same size, "
                                 f"got {s.shape} and {g.shape}")
        h = c.horizon if horizon is None else horizon
        body = {"schema": PLAN_REQUEST_SCHEMA, "start": {"latent": s.tolist()}, "goal": {"latent": g.tolist()},
                "horizon": h, "planner": c.planner, "samples": c.samples, "iterations": c.iterations,
                "constraints": {"max_forward_m": c.max_forward_m, "max_turn_deg": c.max_turn_deg}}
        if waypoint is not None:
            fwd, right, radius = (float(v) for v in waypoint)
            body["waypoint"] = {"forward_m": fwd, "right_m": right, "radius_m": radius, "weight": c.waypoint_weight}
        started = time.perf_counter()
        out = self._request("POST", "/v1/plan", body, signed=True)
        try:
            actions = np.asarray(out["actions"], dtype=np.float32).reshape(-1, 3)
            plan = Plan(actions, tuple(float(e) for e in out["energies"]), float(out["compute_ms"]),
                        (time.perf_counter() - started) * 1000.0, str(out["device"]), str(out["planner"]),
                        str(out["checkpoint"]))
        except (KeyError, TypeError, ValueError) as e:
            raise CompanionError(f"the companion's plan does not follow {PLAN_RESPONSE_SCHEMA} ({e})") from e
        if out.get("schema") != PLAN_RESPONSE_SCHEMA or len(plan.actions) != h or not np.isfinite(plan.actions).all():
            raise CompanionError(f"the companion's plan does not follow {PLAN_RESPONSE_SCHEMA} "
                                 f"(schema {out.get('schema')!r}, {len(plan.actions)} actions for horizon {h})")
        return plan

    def _headers(self, method: str, path: str, payload: bytes) -> dict[str, str]:
        ts, nonce = str(time.time()), secrets.token_hex(16)
        return {DEVICE_HEADER: self.pairing.device_id, TIMESTAMP_HEADER: ts, NONCE_HEADER: nonce,
                SIGNATURE_HEADER: sign(self.pairing.secret, method, path, ts, nonce, payload),
                "Content-Type": "application/json"}

    def _request(self, method: str, path: str, body: dict[str, Any] | None, signed: bool) -> dict[str, Any]:
        if not self.circuit.allows():
            self.circuit.history.append("skip")
            raise CompanionUnavailable(f"the companion is away ({self.circuit.last_error}); "
                                       f"next try in {self.circuit.retry_at - self.circuit.clock():.0f} s")
        payload = b"" if body is None else json.dumps(body).encode("utf-8")
        headers = self._headers(method, path, payload) if signed else {}
        try:
            r = self._http.request(method, path, content=payload or None, headers=headers)
        except self._httpx.TimeoutException as e:
            self.circuit.failed(f"no answer within {self.config.timeout_s:g} s")
            raise CompanionUnavailable(f"the companion did not answer within {self.config.timeout_s:g} s") from e
        except self._httpx.HTTPError as e:  # refused, reset mid-request, DNS, protocol errors
            self.circuit.failed(type(e).__name__)
            raise CompanionUnavailable(f"cannot reach the companion at {self.pairing.url} ({type(e).__name__})") from e
        if r.status_code >= 500 or r.status_code == 429:
            self.circuit.failed(f"HTTP {r.status_code}")
            raise CompanionUnavailable(f"the companion answered {r.status_code} ({_detail(r)})")
        if r.status_code == 401:
            raise CompanionError(f"the companion refused this device ({_detail(r)}); "
                                 "pair again with `ami companion pair`")
        if r.status_code != 200:
            raise CompanionError(f"the companion rejected the request ({r.status_code}: {_detail(r)})")
        out = _json(r)
        self.circuit.succeeded()
        return out
