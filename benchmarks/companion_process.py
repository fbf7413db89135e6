"""The real companion (`ami companion serve`) as its own process on a free loopback port, for the
closed-loop benchmark and the device tests: it can be killed in the middle of a request and
started again on the same port and state folder (paired devices survive the restart, as they do for a wearer)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

START_TIMEOUT_S = 120.0  # importing torch and FastAPI and warming the planner, on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def untrained_checkpoint(path: Path) -> Path:
    """A valid JEPA checkpoint with fresh weights: the device tests need the protocol, not skill."""
    import torch

    from worldmodel.jepa import JepaConfig, LatentPredictor, checkpoint_bytes

    torch.manual_seed(0)
    path.write_bytes(checkpoint_bytes(LatentPredictor(JepaConfig()), {"note": "untrained, for tests"}))
    return path


# A companion that lets a plan at the limits run its course (a minute on this CPU), far past the
# glasses' patience (`--plan-budget`; the default answers within 1 s): tests of the client's fallback.
SLOW_COMPANION = ("--plan-budget", "600")

class CompanionProcess:
    """`python -m device companion serve` on a fixed port; start, kill and start again."""

    def __init__(self, tmp: Path, checkpoint: Path, extra_args: tuple[str, ...] = ()) -> None:
        """extra_args: more `ami companion serve` flags (e.g. a long --plan-budget: a slow companion)."""
        self.port, self.state, self.checkpoint = free_port(), tmp / "companion-state", checkpoint
        self.extra_args = extra_args
        self.url = f"http://127.0.0.1:{self.port}"
        self.code = ""
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "device", "companion", "serve", "--port", str(self.port), "--checkpoint",
             str(self.checkpoint), "--state", str(self.state), "--threads", "1", *self.extra_args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.proc.stdout is not None
        deadline, seen = time.monotonic() + START_TIMEOUT_S, []
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                break
            seen.append(line)
            if m := re.search(r"pairing code[^:]*: (\S+)", line):
                self.code = m.group(1)
                break
        assert self.code, f"`ami companion serve` did not print a pairing code: {''.join(seen)[-2000:]}"
        self._wait_until_listening(deadline)

    def _wait_until_listening(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError(f"the companion is not listening on port {self.port}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
