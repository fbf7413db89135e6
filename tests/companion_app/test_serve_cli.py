"""`ami companion serve` as a wearer runs it: refuses a public address without --allow-remote and a
missing checkpoint with a clear message; serves a real checkpoint to the device's own client."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
AMI = [sys.executable, "-m", "device"]


def run_ami(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AMI, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_a_public_address_needs_allow_remote(tmp_path: Path) -> None:
    r = run_ami("companion", "serve", "--host", "0.0.0.0", "--state", str(tmp_path / "s"))
    assert r.returncode == 2 and "not a loopback address" in r.stderr and "--allow-remote" in r.stderr


def test_a_missing_checkpoint_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pt"
    r = run_ami("companion", "serve", "--checkpoint", str(missing), "--state", str(tmp_path / "s"))
    assert r.returncode == 2 and str(missing) in r.stderr, r.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _read_until(proc: subprocess.Popen[str], marker: str, timeout_s: float) -> str:
    """The server's output up to the line holding `marker`; a reader thread so that a stalled
    server fails the test at the deadline instead of blocking it."""
    assert proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    out = proc.stdout
    threading.Thread(target=lambda: [lines.put(line) for line in out], daemon=True).start()
    seen, deadline = "", time.monotonic() + timeout_s
    while marker not in seen:
        try:
            seen += lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no {marker!r} within {timeout_s} s (exit {proc.poll()}); got {seen!r}") from None
    return seen


@pytest.mark.slow
def test_serve_pairs_and_plans_for_the_device_client(tmp_path: Path) -> None:
    import torch

    from device.navigation.companion_client import CompanionClient, CompanionConfig, pair
    from worldmodel.jepa import LatentPredictor, checkpoint_bytes

    torch.manual_seed(0)
    ckpt = tmp_path / "jepa.pt"
    ckpt.write_bytes(checkpoint_bytes(LatentPredictor(), {"note": "untrained, for this test"}))
    port = _free_port()
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.Popen([*AMI, "companion", "serve", "--port", str(port), "--checkpoint", str(ckpt),
                             "--state", str(tmp_path / "state")], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        out = _read_until(proc, "pairing code", 120)
        code = out.split("):")[-1].strip()
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):  # the code is printed just before uvicorn binds
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        pairing = pair(url, code, tmp_path / "glasses")
        assert (tmp_path / "state" / "devices.json").stat().st_mode & 0o777 == 0o600
        rng = np.random.default_rng(0)
        config = CompanionConfig(timeout_s=60.0, samples=32, iterations=3)
        with CompanionClient(pairing, config) as client:
            assert client.health()["checkpoint"].startswith("jepa-v1+")
            plan = client.plan(rng.normal(size=128).astype(np.float32), rng.normal(size=128).astype(np.float32))
        assert plan.actions.shape == (5, 3) and plan.device == "cpu" and len(plan.energies) == 5
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
