"""The device's companion client against the real companion (`ami companion serve`, its own process
on loopback): signing, pairing, plans, the fallback when the companion is too slow or killed in
the middle of a request, and the resume when it is back."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import stat
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from device.navigation.companion_client import (CompanionClient, CompanionConfig, load_pairing, pair, sign,
                                     state_path)
from device.errors import CompanionError, CompanionUnavailable
from companion_process import SLOW_COMPANION, CompanionProcess, untrained_checkpoint

TIMEOUT_S = 1.5
FAST = CompanionConfig(timeout_s=TIMEOUT_S, retry_after_s=5.0, horizon=4, samples=32, iterations=3)
# Many seconds of CEM on this CPU: the companion is "too slow", or busy when it is killed.
SLOW = dataclasses.replace(FAST, horizon=16, samples=2000, iterations=200)


@pytest.fixture(scope="module")
def companion(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CompanionProcess]:
    tmp = tmp_path_factory.mktemp("companion")
    c = CompanionProcess(tmp, untrained_checkpoint(tmp / "jepa.pt"), SLOW_COMPANION)
    c.start()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def paired(companion: CompanionProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state folder paired with the companion (its code is valid once: pair once per module)."""
    state = tmp_path_factory.mktemp("glasses") / "mem"
    pair(companion.url, companion.code, state)
    return state


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


def test_pair_stores_owner_only_state_and_codes_are_single_use(companion: CompanionProcess, paired: Path,
                                                              tmp_path: Path) -> None:
    p = load_pairing(paired)
    assert p is not None and p.url == companion.url and p.expires_at > time.time()
    assert stat.S_IMODE(state_path(paired).stat().st_mode) == 0o600
    assert stat.S_IMODE(paired.stat().st_mode) == 0o700
    for code in (companion.code, "0000-0000"):  # used once already; a wrong one
        with pytest.raises(CompanionError, match="refused pairing"):
            pair(companion.url, code, tmp_path / "other")
        assert not state_path(tmp_path / "other").exists()
    broken = tmp_path / "broken"
    broken.mkdir()
    state_path(broken).write_text("{not json")
    with pytest.raises(CompanionError, match="companion.json"):
        load_pairing(broken)


def test_unpaired_state_means_no_client(tmp_path: Path) -> None:
    assert CompanionClient.from_state(tmp_path) is None


def test_plan_kill_mid_request_falls_back_in_time_then_resumes(companion: CompanionProcess, paired: Path) -> None:
    pairing = load_pairing(paired)
    assert pairing is not None
    now = [0.0]
    start, goal = np.zeros(128, np.float32), np.ones(128, np.float32)
    with CompanionClient(pairing, FAST, clock=lambda: now[0]) as client:
        assert client.plan(start, goal).actions.shape == (4, 3)
        # A waypoint 3 m ahead: its term (100 per squared metre) is in every step's energy.
        steered = client.plan(start, goal, waypoint=(3.0, 0.0, 0.0))
        assert steered.energies[0] >= 100.0 * 2.5 ** 2 and steered.actions[:, 0].mean() > 0.4, steered
        # A plan that takes the companion many seconds: the client gives up within its bound.
        client.config = SLOW
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
        # Back; after the back-off the next request goes out and succeeds.
        companion.start()
        client.config = FAST
        now[0] += 5.0
        plan = client.plan(start, goal)
        assert plan.actions.shape == (4, 3) and client.circuit.failures == 0
        assert client.circuit.history[-1] == "ok"


def test_refused_request_is_an_error_not_an_outage(paired: Path, tmp_path: Path) -> None:
    forged = json.loads(state_path(paired).read_text())
    forged["secret"] = base64.urlsafe_b64encode(b"x" * 32).decode()
    (tmp_path / "mem").mkdir()
    state_path(tmp_path / "mem").write_text(json.dumps(forged))
    with CompanionClient(load_pairing(tmp_path / "mem")) as client:  # type: ignore[arg-type]
        with pytest.raises(CompanionError, match="pair again") as e:
            client.plan(np.zeros(128), np.zeros(128))
        assert not isinstance(e.value, CompanionUnavailable) and client.circuit.failures == 0
