"""Pairing and request authentication for the companion: one-time codes, paired devices kept
owner-only, HMAC request signatures, a replay (nonce) cache and a per-device rate limit.

Why HMAC and not a bearer token: a token seen once (a log, a proxy) can be replayed forever; a
signature covers the method, path, body hash, a timestamp and a nonce, so a captured request can
neither be altered nor sent again, and the secret itself never crosses the network after pairing.

The signed message and its headers are core/protocol.py's, shared with the device's client.

The state folder holds devices.json (mode 0600, folder 0700, replaced atomically): each paired
device's id, name, secret and expiry. Anyone who can read it can sign as that device, which is
why it is owner-only and why secrets expire.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Mapping

from companion_app.errors import RequestRejected, StateError
from core.files import write_bytes_atomic
from core.protocol import HEADERS, secret_key, signature

log = logging.getLogger(__name__)

DEVICES_FILE = "devices.json"
DEVICES_SCHEMA = "ami-companion-devices/1"
SECRET_BYTES = 32
NONCE_RE = re.compile(r"^[0-9a-fA-F]{16,128}$")


@dataclass(frozen=True)
class AuthConfig:
    code_ttl_s: float = 300.0  # the pairing code printed at start is valid this long, once
    max_code_attempts: int = 5  # wrong codes before the code is burned (a guessing guard)
    secret_ttl_s: float = 30 * 24 * 3600.0  # pair again after 30 days
    max_skew_s: float = 30.0  # timestamps further from the server clock are refused
    rate_per_s: float = 20.0  # per device: sustained requests per second ...
    burst: int = 40  # ... and how many may come at once
    max_nonces: int = 100_000  # replay cache bound; rate limits keep it far below this

    def __post_init__(self) -> None:
        for name in ("code_ttl_s", "secret_ttl_s", "max_skew_s", "rate_per_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"AuthConfig.{name}={getattr(self, name)!r}: must be > 0")
        for name in ("max_code_attempts", "burst", "max_nonces"):
            if getattr(self, name) < 1:
                raise ValueError(f"AuthConfig.{name}={getattr(self, name)!r}: must be >= 1")


def new_pairing_code() -> str:
    """Eight random digits shown as 1234-5678: easy to type on a phone, 10^8 to guess from."""
    n = f"{secrets.randbelow(10**8):08d}"
    return f"{n[:4]}-{n[4:]}"


@dataclass(frozen=True)
class Device:
    device_id: str
    name: str
    secret: str
    paired_at: float
    expires_at: float


class DeviceRegistry:
    """The paired devices, persisted in STATE_DIR/devices.json. Thread-safe."""

    def __init__(self, state_dir: Path) -> None:
        from memory.folder import make_private_folder

        self.state_dir = Path(state_dir)
        self.path = self.state_dir / DEVICES_FILE
        make_private_folder(self.state_dir)
        self._lock = threading.Lock()
        self._devices = self._load()

    def _load(self) -> dict[str, Device]:
        if not self.path.exists():
            return {}
        if os.stat(self.path).st_mode & 0o077:
            log.warning("%s is readable by others; setting it to 0600", self.path)
            os.chmod(self.path, 0o600)
        try:
            obj = json.loads(self.path.read_text(encoding="utf-8"))
            if obj.get("schema") != DEVICES_SCHEMA:
                raise ValueError(f"field 'schema' is {obj.get('schema')!r}, expected {DEVICES_SCHEMA!r}")
            return {d["device_id"]: Device(**d) for d in obj["devices"]}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise StateError(f"{self.path}: cannot read the paired devices ({e}); move the file away and pair "
                             "the devices again") from e

    def _save(self) -> None:
        text = json.dumps({"schema": DEVICES_SCHEMA, "devices": [asdict(d) for d in self._devices.values()]},
                          indent=2)
        try:
            write_bytes_atomic(self.path, text.encode("utf-8"), durable=True)  # created 0600
        except OSError as e:
            raise StateError(f"{self.path}: cannot write the paired devices ({e}); check the --state folder") from e

    def add(self, name: str, ttl_s: float, now: float) -> Device:
        """Create a device with a fresh secret and persist it before returning."""
        device = Device(device_id=secrets.token_hex(8), name=name,
                        secret=base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii"),
                        paired_at=now, expires_at=now + ttl_s)
        with self._lock:
            self._devices[device.device_id] = device
            self._save()
        return device

    def get(self, device_id: str) -> Device | None:
        with self._lock:
            return self._devices.get(device_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._devices)


class PairingCode:
    """The one-time code printed at start: valid once, for `code_ttl_s`, for a few wrong tries."""

    def __init__(self, config: AuthConfig, now: float, code: str | None = None) -> None:
        self.code = code or new_pairing_code()
        self._expires_at = now + config.code_ttl_s
        self._attempts_left = config.max_code_attempts
        self._used = False
        self._lock = threading.Lock()

    def redeem(self, offered: str, now: float) -> None:
        """Accept the code once; raise RequestRejected(403) otherwise."""
        with self._lock:
            if now > self._expires_at:
                raise RequestRejected(403, "the pairing code has expired; restart `ami companion serve` for a new one")
            if self._attempts_left <= 0:
                raise RequestRejected(403, "too many wrong pairing codes; restart `ami companion serve` for a new one")
            if not hmac.compare_digest(offered.strip().encode(), self.code.encode()):
                self._attempts_left -= 1
                raise RequestRejected(403, "wrong pairing code; type the newest code `ami companion serve` printed")
            if self._used:
                raise RequestRejected(403, "the pairing code was already used; `ami companion serve` printed a new "
                                           "one when it was")
            self._used = True


class TokenBucket:
    """Per-device rate limit: `burst` requests at once, refilled at `rate_per_s`."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate, self.burst = rate_per_s, float(burst)
        self._tokens: dict[str, tuple[float, float]] = {}  # device -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str, now: float) -> bool:
        with self._lock:
            tokens, at = self._tokens.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            ok = tokens >= 1.0
            self._tokens[key] = (tokens - 1.0 if ok else tokens, now)
            return ok


class Authenticator:
    """Pairs devices and verifies signed requests. One per server."""

    def __init__(self, state_dir: Path, config: AuthConfig = AuthConfig(),
                 clock: Callable[[], float] = time.time, code: str | None = None,
                 on_new_code: Callable[[str], None] | None = None) -> None:
        """on_new_code: told each new one-time code (a pairing uses one up and makes the next)."""
        self.config = config
        self.clock = clock
        self.registry = DeviceRegistry(state_dir)
        self.pairing = PairingCode(config, clock(), code)
        self._used_codes: list[PairingCode] = []  # a used code still answers "already used"
        self.on_new_code = on_new_code
        self.limiter = TokenBucket(config.rate_per_s, config.burst)
        self._nonces: OrderedDict[tuple[str, str], float] = OrderedDict()  # (device, nonce) -> seen at
        self._lock = threading.Lock()

    def pair(self, code: str, device_name: str) -> Device:
        """Pair with the current one-time code, then make the next one (no restart for a second device)."""
        now = self.clock()
        for used in self._used_codes:
            if hmac.compare_digest(code.strip().encode(), used.code.encode()):
                used.redeem(code, now)  # raises: already used (or expired)
        current = self.pairing
        current.redeem(code, now)
        self._used_codes = [*self._used_codes[-7:], current]
        self.pairing = PairingCode(self.config, now)
        device = self.registry.add(device_name, self.config.secret_ttl_s, now)
        log.info("paired device %s (%r)", device.device_id, device_name)
        if self.on_new_code is not None:
            self.on_new_code(self.pairing.code)
        return device

    def verify(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Device:
        """The device that signed this request; RequestRejected(401 or 429) if it is not acceptable."""
        missing = [h for h in HEADERS if not headers.get(h)]
        if missing:
            raise RequestRejected(401, f"missing header(s) {', '.join(missing)}: every request except health and "
                                       "pairing must be signed; pair the device first")
        device_id, ts, nonce, sig = (headers[h] for h in HEADERS)
        device = self.registry.get(device_id)
        if device is None:
            raise RequestRejected(401, "unknown device: pair it with the code `ami companion serve` prints")
        now = self.clock()
        if now > device.expires_at:
            raise RequestRejected(401, "the device's secret has expired: pair it again")
        try:
            sent_at = float(ts)
        except ValueError:
            raise RequestRejected(401, "X-Ami-Timestamp is not unix seconds") from None
        if not abs(now - sent_at) <= self.config.max_skew_s:  # also refuses nan
            raise RequestRejected(401, f"X-Ami-Timestamp is {now - sent_at:+.0f} s from the companion's clock (at "
                                       f"most {self.config.max_skew_s:g} s allowed): check both clocks")
        if not NONCE_RE.match(nonce):
            raise RequestRejected(401, "X-Ami-Nonce must be 16 to 128 hex characters")
        want = signature(secret_key(device.secret), method, path, ts, nonce, body)
        if not hmac.compare_digest(want.encode(), sig.lower().encode("utf-8", "replace")):
            raise RequestRejected(401, "bad signature: the request was altered or signed with another secret")
        self._remember(device_id, nonce, now)  # only after the signature: forgeries cannot fill the cache
        if not self.limiter.take(device_id, now):
            raise RequestRejected(429, f"too many requests from this device (over {self.config.rate_per_s:g}/s); "
                                       "slow down and retry")
        return device

    def _remember(self, device_id: str, nonce: str, now: float) -> None:
        with self._lock:
            horizon = now - 2 * self.config.max_skew_s  # older nonces carry timestamps refused anyway
            while self._nonces and next(iter(self._nonces.values())) < horizon:
                self._nonces.popitem(last=False)
            if (device_id, nonce.lower()) in self._nonces:
                raise RequestRejected(401, "replayed request: this nonce was seen before; sign each request "
                                           "with a fresh nonce")
            if len(self._nonces) >= self.config.max_nonces:
                raise RequestRejected(429, "too many requests in flight to check for replays; retry shortly")
            self._nonces[(device_id, nonce.lower())] = now
