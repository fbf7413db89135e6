"""The companion over real HTTP (uvicorn on loopback, httpx): pairing, signed planning, and every
kind of bad request refused with a 4xx that names the problem while the server keeps serving."""

from __future__ import annotations

import json
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from companion_fixtures import live, pose_latent
from live_server import LiveServer

from companion_app.auth import AuthConfig
from companion_app.planner import Bounds, PlanJob, PlannerConfig
from companion_app.server import openapi_json
from device.navigation.companion_client import sign  # the device's own signing: proves both sides agree

ROOT = Path(__file__).resolve().parents[2]


def pair(server: LiveServer, name: str = "glasses") -> dict[str, Any]:
    r = httpx.post(f"{server.url}/v1/pair", json={"code": server.code, "device_name": name})
    assert r.status_code == 200, r.text
    return r.json()


def plan_body(**over: Any) -> dict[str, Any]:
    body = {"schema": "ami-plan-request/1", "start": {"latent": pose_latent(0, 0, 0)},
            "goal": {"latent": pose_latent(1.0, -0.4, 30)}, "horizon": 5, "planner": "cem",
            "constraints": {"max_forward_m": 0.5, "max_turn_deg": 45.0}, "samples": 64, "iterations": 10}
    return {**body, **over}


def post_signed(server: LiveServer, dev: dict[str, Any], payload: bytes, *, ts: str | None = None,
                nonce: str | None = None, secret: str | None = None, drop: str | None = None) -> httpx.Response:
    ts = ts or str(time.time())
    nonce = nonce or secrets.token_hex(16)
    headers = {"X-Ami-Device": dev["device_id"], "X-Ami-Timestamp": ts, "X-Ami-Nonce": nonce,
               "X-Ami-Signature": sign(secret or dev["secret"], "POST", "/v1/plan", ts, nonce, payload),
               "Content-Type": "application/json"}
    if drop:
        headers.pop(drop)
    return httpx.post(f"{server.url}/v1/plan", content=payload, headers=headers, timeout=30)


def served(server: LiveServer) -> int:
    return server.app.state.batcher.jobs


def test_health_needs_no_auth(server: LiveServer) -> None:
    r = httpx.get(f"{server.url}/v1/health")
    assert r.status_code == 200
    assert r.json() == {"schema": "ami-companion/1", "status": "ok", "checkpoint": "toy-pose-v1", "device": "cpu"}


def test_each_code_pairs_once_and_the_next_needs_no_restart(server: LiveServer) -> None:
    wrong = httpx.post(f"{server.url}/v1/pair", json={"code": "0000-000", "device_name": "x"})
    assert wrong.status_code == 403 and "wrong pairing code" in wrong.json()["detail"]
    first_code = server.code
    dev = pair(server)
    assert len(dev["secret"]) == 44 and dev["expires_at"] > time.time() + 86400
    again = httpx.post(f"{server.url}/v1/pair", json={"code": first_code, "device_name": "thief"})
    assert again.status_code == 403 and "already used" in again.json()["detail"]
    wrong = httpx.post(f"{server.url}/v1/pair", json={"code": "0000-001", "device_name": "x"})
    assert wrong.status_code == 403 and "wrong pairing code" in wrong.json()["detail"]  # not "already used"
    assert server.code != first_code  # a second device pairs with the next code, no restart
    second = pair(server, "second glasses")
    assert second["device_id"] != dev["device_id"]
    state = server.app.state.auth.registry
    assert (state.path.stat().st_mode & 0o777) == 0o600 and (state.state_dir.stat().st_mode & 0o777) == 0o700
    assert json.loads(state.path.read_text())["devices"][0]["device_id"] == dev["device_id"]


def test_signed_plan_reaches_the_goal(server: LiveServer) -> None:
    dev = pair(server)
    for planner in ("cem", "gradient"):
        r = post_signed(server, dev, json.dumps(plan_body(planner=planner, samples=128, iterations=30)).encode())
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["schema"] == "ami-plan-response/1" and out["planner"] == planner and out["device"] == "cpu"
        assert out["checkpoint"] == "toy-pose-v1" and len(out["actions"]) == 5 and len(out["energies"]) == 5
        assert all(0.0 <= a[0] <= 0.5 and a[1] == 0.0 and abs(a[2]) <= 45.0 for a in out["actions"])
        assert out["energies"][-1] < 0.01 and out["energies"][-1] < out["energies"][0]
        assert out["compute_ms"] > 0


@pytest.mark.parametrize("attack", ["missing", "forged", "unknown-device", "expired", "future", "replayed"])
def test_unauthenticated_requests_are_rejected_and_nothing_is_served(server: LiveServer, attack: str) -> None:
    dev = pair(server)
    payload = json.dumps(plan_body()).encode()
    if attack == "replayed":
        ts, nonce = str(time.time()), secrets.token_hex(16)
        assert post_signed(server, dev, payload, ts=ts, nonce=nonce).status_code == 200
        before = served(server)
        r = post_signed(server, dev, payload, ts=ts, nonce=nonce)
        assert r.status_code == 401 and "replayed" in r.json()["detail"]
        assert served(server) == before
        return
    if attack == "missing":
        r = post_signed(server, dev, payload, drop="X-Ami-Signature")
        bare = httpx.post(f"{server.url}/v1/plan", content=payload)
        assert bare.status_code == 401 and "missing header" in bare.json()["detail"]
    elif attack == "forged":
        r = post_signed(server, dev, payload, secret=secrets.token_urlsafe(32))
    elif attack == "unknown-device":
        r = post_signed(server, {**dev, "device_id": "f" * 16}, payload)
    else:
        r = post_signed(server, dev, payload, ts=str(time.time() + (-31 if attack == "expired" else 31)))
    assert r.status_code == 401, r.text
    assert served(server) == 0


def test_a_signed_body_cannot_be_altered(server: LiveServer) -> None:
    dev = pair(server)
    ts, nonce = str(time.time()), secrets.token_hex(16)
    good = json.dumps(plan_body()).encode()
    headers = {"X-Ami-Device": dev["device_id"], "X-Ami-Timestamp": ts, "X-Ami-Nonce": nonce,
               "X-Ami-Signature": sign(dev["secret"], "POST", "/v1/plan", ts, nonce, good)}
    altered = json.dumps(plan_body(horizon=16)).encode()
    r = httpx.post(f"{server.url}/v1/plan", content=altered, headers=headers)
    assert r.status_code == 401 and "bad signature" in r.json()["detail"]
    assert served(server) == 0


def test_an_expired_secret_is_refused(tmp_path: Path) -> None:
    with live(tmp_path, auth=AuthConfig(secret_ttl_s=0.5)) as server:
        dev = pair(server)
        time.sleep(0.7)
        r = post_signed(server, dev, json.dumps(plan_body()).encode())
        assert r.status_code == 401 and "expired" in r.json()["detail"]
        assert served(server) == 0


BAD = [
    ("malformed JSON", b'{"schema": "ami-plan-request/1", "start": ', 422, "Invalid JSON"),
    ("wrong schema", plan_body(schema="ami-plan-request/2"), 422, "schema"),
    ("unknown field", plan_body(constraints={"max_forward_m": 0.5, "max_turm_deg": 45}), 422, "max_turm_deg"),
    ("wrong latent size", plan_body(start={"latent": [0.0] * 5}, goal={"latent": [0.0] * 5}), 422,
     "start.latent has 5 values"),
    ("start and goal sizes differ", plan_body(goal={"latent": [0.0] * 9}), 422, "goal.latent has 9"),
    ("horizon out of range", plan_body(horizon=40), 422, "horizon"),
    ("negative waypoint weight", plan_body(waypoint={"forward_m": 1.0, "right_m": 0.0, "weight": -1.0}), 422,
     "waypoint.weight"),
    ("not finite", b'{"schema": "ami-plan-request/1", "start": {"latent": [Infinity, 0, 1, 0, 0, 0, 0, 0]}, '
                   b'"goal": {"latent": [0, 0, 1, 0, 0, 0, 0, 0]}}', 422, "start.latent.0"),
    ("oversized body", plan_body(start={"latent": [0.123456789] * 30000}), 413, "at most 262144 bytes"),
    ("latent far out of range", plan_body(start={"latent": [1e308] + [0.0] * 7}), 422, "start.latent.0"),
]


@pytest.mark.parametrize("what,body,status,names", BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_a_4xx_naming_it_and_the_server_keeps_serving(server: LiveServer, what: str, body: Any,
                                                                      status: int, names: str) -> None:
    dev = pair(server)
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = post_signed(server, dev, payload)
    assert r.status_code == status, r.text
    assert names in r.json()["detail"], r.json()
    assert served(server) == 0
    assert post_signed(server, dev, json.dumps(plan_body()).encode()).status_code == 200


def test_rate_limit_answers_429(tmp_path: Path) -> None:
    with live(tmp_path, auth=AuthConfig(rate_per_s=0.1, burst=2)) as server:
        dev = pair(server)
        codes = [post_signed(server, dev, json.dumps(plan_body(iterations=1)).encode()).status_code for _ in range(3)]
        assert codes == [200, 200, 429]


def test_concurrent_requests_are_batched_with_the_answers_of_one_by_one(server: LiveServer) -> None:
    devs = [pair(server, f"glasses {i}") for i in range(8)]  # one plan at a time per device
    goals = [pose_latent(1.0, 0.1 * i, 10.0 * i) for i in range(8)]
    results: dict[int, dict[str, Any]] = {}

    def one(i: int) -> None:
        r = post_signed(server, devs[i], json.dumps(plan_body(goal={"latent": goals[i]}, seed=i)).encode())
        assert r.status_code == 200, r.text
        results[i] = r.json()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and max(r["batch_size"] for r in results.values()) > 1
    planner = server.app.state.planner
    box = Bounds((0.0, 0.0, -45.0), (0.5, 0.0, 45.0))
    for i, got in results.items():
        alone = planner.plan(PlanJob(torch.tensor(pose_latent(0, 0, 0)), torch.tensor(goals[i]), box, samples=64,
                                     iterations=10, seed=i))
        assert torch.allclose(torch.tensor(got["actions"]), torch.tensor(alone.actions), atol=1e-4)


def test_openapi_document_is_served_and_current(server: LiveServer) -> None:
    doc = httpx.get(f"{server.url}/openapi.json").json()
    assert set(doc["paths"]) == {"/v1/health", "/v1/pair", "/v1/plan"}
    docs = httpx.get(f"{server.url}/docs").text  # no interactive page: it would load scripts from a CDN
    assert "no interactive docs page" in docs and "/openapi.json" in docs
    assert doc["components"]["schemas"]["PlanRequest"]["properties"]["horizon"]["maximum"] == 16
    shipped = ROOT / "docs" / "companion-openapi.json"
    assert shipped.read_text() == openapi_json(server.app), \
        "docs/companion-openapi.json is out of date: run .venv/bin/python scripts/companion_openapi.py"


def test_wrong_codes_burn_the_pairing_code(server: LiveServer) -> None:
    for _ in range(5):
        assert httpx.post(f"{server.url}/v1/pair", json={"code": "9999-9999", "device_name": "x"}).status_code == 403
    r = httpx.post(f"{server.url}/v1/pair", json={"code": server.code, "device_name": "glasses"})
    assert r.status_code == 403 and "too many wrong" in r.json()["detail"]


def test_paired_devices_survive_a_restart(tmp_path: Path) -> None:
    with live(tmp_path) as first:
        dev = pair(first)
    with live(tmp_path) as second:  # the same state folder, read again at start
        assert post_signed(second, dev, json.dumps(plan_body()).encode()).status_code == 200


def test_a_greedy_device_gets_its_budget_and_no_more(tmp_path: Path) -> None:
    """A request at the limits stops at the time budget with the best plan found (fewer iterations
    than asked); while it plans, the same device's next request is refused (429) and another
    device's ordinary one is answered."""
    with live(tmp_path, planner=PlannerConfig(budget_s=0.5)) as server:
        greedy, normal = pair(server, "greedy"), pair(server, "normal")
        out: dict[str, httpx.Response] = {}
        big = json.dumps(plan_body(samples=2000, iterations=200, horizon=16)).encode()
        t = threading.Thread(target=lambda: out.update(big=post_signed(server, greedy, big)))
        started = time.perf_counter()
        t.start()
        while greedy["device_id"] not in server.app.state.planning:  # its plan has started
            assert time.perf_counter() - started < 10 and t.is_alive(), "the greedy plan never started"
            time.sleep(0.01)
        again = post_signed(server, greedy, json.dumps(plan_body()).encode())
        ordinary = post_signed(server, normal, json.dumps(plan_body()).encode())
        t.join()
        assert again.status_code == 429 and "already has a plan in progress" in again.json()["detail"]
        assert ordinary.status_code == 200, ordinary.text
        assert out["big"].status_code == 200 and out["big"].json()["iterations"] < 200
        assert time.perf_counter() - started < 5.0
        assert post_signed(server, greedy, json.dumps(plan_body()).encode()).status_code == 200  # its turn again


def test_what_the_signature_does_not_cover_is_refused(tmp_path: Path) -> None:
    """A query string (unsigned), another content type, and a body that stalls."""
    with live(tmp_path, read_timeout_s=1.0) as server:
        _refuse_unsigned_parts(server)


def _refuse_unsigned_parts(server: LiveServer) -> None:
    import socket

    dev = pair(server)
    payload = json.dumps(plan_body()).encode()
    ts, nonce = str(time.time()), secrets.token_hex(16)
    headers = {"X-Ami-Device": dev["device_id"], "X-Ami-Timestamp": ts, "X-Ami-Nonce": nonce,
               "X-Ami-Signature": sign(dev["secret"], "POST", "/v1/plan", ts, nonce, payload)}
    r = httpx.post(f"{server.url}/v1/plan?samples=2000", content=payload,
                   headers={**headers, "Content-Type": "application/json"})
    assert r.status_code == 400 and "query string" in r.json()["detail"]
    r = httpx.post(f"{server.url}/v1/plan", content=payload, headers={**headers, "Content-Type": "text/plain"})
    assert r.status_code == 415 and "application/json" in r.json()["detail"]
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST /v1/plan HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 10000000000\r\n\r\n{")
        started = time.perf_counter()
        answer = sock.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 408") and time.perf_counter() - started < 5
    assert served(server) == 0
