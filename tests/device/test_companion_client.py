"""The companion client against a companion process on loopback: pairing, signing, plans, and the
fallback when the companion is killed mid-request, then the resume when it is back."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from device.companion_client import (CompanionClient, CompanionConfig, load_pairing, pair, sign,
                                     state_path)
from device.errors import CompanionError, CompanionUnavailable

STUB = Path(__file__).with_name("companion_stub.py")
CODE = "1234-5678"
TIMEOUT_S = 1.5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Companion:
    """A companion process on a fixed port that a test can kill and start again."""

    def __init__(self, tmp: Path, delay_s: float = 0.0) -> None:
        self.port, self.delay_s, self.devices = free_port(), delay_s, tmp / "devices.json"
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(STUB), "--port", str(self.port), "--code", CODE,
                                      "--delay-s", str(self.delay_s), "--devices", str(self.devices)],
                                     stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        assert b"stub companion" in self.proc.stdout.readline(), "the companion did not start"

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def companion(tmp_path: Path) -> Iterator[Companion]:
    c = Companion(tmp_path, delay_s=3.0)
    c.start()
    yield c
    if c.proc is not None and c.proc.poll() is None:
        c.kill()


def test_sign_is_hmac_sha256_of_the_contract_message() -> None:
    key = bytes(range(32))
    secret = base64.urlsafe_b64encode(key).decode().rstrip("=")
    body = b'{"x": 1}'
    msg = f"POST\n/v1/plan\n1700000000.25\nabcdef0123456789\n{hashlib.sha256(body).hexdigest()}"
    want = hmac.new(key, msg.encode(), hashlib.sha256).hexdigest()
    assert sign(secret, "post", "/v1/plan", "1700000000.25", "abcdef0123456789", body) == want
    assert sign(secret, "POST", "/v1/plan", 1700000000.25, "abcdef0123456789", body) == want
    assert sign(secret, "POST", "/v1/plan", "1700000000.25", "abcdef0123456789", b'{"x": 2}') != want
    with pytest.raises(CompanionError, match="32"):
        sign(base64.urlsafe_b64encode(b"short").decode(), "GET", "/", "1", "n" * 16, b"")


def test_pair_stores_owner_only_state_and_wrong_code_is_refused(companion: Companion, tmp_path: Path) -> None:
    state = tmp_path / "mem"
    with pytest.raises(CompanionError, match="refused pairing"):
        pair(companion.url, "0000-0000", state)
    assert not state_path(state).exists()
    p = pair(companion.url, CODE, state)
    assert load_pairing(state) == p
    assert stat.S_IMODE(state_path(state).stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    state_path(state).write_text("{not json")
    with pytest.raises(CompanionError, match="companion.json"):
        load_pairing(state)


def test_unpaired_state_means_no_client(tmp_path: Path) -> None:
    assert CompanionClient.from_state(tmp_path) is None


def test_plan_kill_mid_request_falls_back_in_time_then_resumes(companion: Companion, tmp_path: Path) -> None:
    pairing = pair(companion.url, CODE, tmp_path / "mem")
    now = [0.0]
    config = CompanionConfig(timeout_s=TIMEOUT_S, retry_after_s=5.0, horizon=4)
    start, goal = np.zeros(8, np.float32), np.ones(8, np.float32)
    with CompanionClient(pairing, config, clock=lambda: now[0]) as client:
        # The companion answers slowly (3 s > timeout): the client gives up within its bound.
        t0 = time.perf_counter()
        with pytest.raises(CompanionUnavailable, match="within"):
            client.plan(start, goal)
        assert time.perf_counter() - t0 < TIMEOUT_S + 1.0
        # Killed in the middle of a request: the client falls back at once.
        client.circuit.failures = 0
        killer = threading.Timer(0.3, companion.kill)
        killer.start()
        t0 = time.perf_counter()
        with pytest.raises(CompanionUnavailable):
            client.plan(start, goal)
        assert time.perf_counter() - t0 < TIMEOUT_S + 1.0
        killer.join()
        # While the circuit is open nothing is sent: the answer is immediate.
        t0 = time.perf_counter()
        with pytest.raises(CompanionUnavailable, match="away"):
            client.plan(start, goal)
        assert client.circuit.history[-1] == "skip" and time.perf_counter() - t0 < 0.1
        # Back (and fast); after the back-off the next request goes out and succeeds.
        companion.delay_s = 0.0
        companion.start()
        now[0] += 5.0
        plan = client.plan(start, goal)
        assert plan.actions.shape == (4, 3) and client.circuit.failures == 0
        assert client.circuit.history[-1] == "ok"


def test_refused_request_is_an_error_not_an_outage(companion: Companion, tmp_path: Path) -> None:
    pairing = pair(companion.url, CODE, tmp_path / "mem")
    forged = json.loads(json.dumps(pairing.to_json()))
    forged["secret"] = base64.urlsafe_b64encode(b"x" * 32).decode()
    state_path(tmp_path / "mem").write_text(json.dumps(forged))
    with CompanionClient(load_pairing(tmp_path / "mem")) as client:  # type: ignore[arg-type]
        with pytest.raises(CompanionError, match="pair again") as e:
            client.plan(np.zeros(4), np.zeros(4))
        assert not isinstance(e.value, CompanionUnavailable) and client.circuit.failures == 0
