"""Load on the real companion: 32 concurrent clients for 60 s on loopback, signed plan requests;
errors, p50/p99 latency and plans per second.

Starts `ami companion serve` (a subprocess, 1 torch thread, the shipped JEPA checkpoint or, until
it lands, an untrained one of the same architecture) with 32 devices paired in its state folder:
one client per device, as 32 pairs of glasses would be (one device alone would meet its rate
limit). Each client signs with the device client's own `sign` and sends its next request as soon
as the last one is answered. Two phases, each --seconds long: a light request (30 samples, 3
iterations: the HTTP, auth and batching overhead), the contract's default (300 samples, 30
iterations), and the default again with one client asking for the limits every time (the greedy
client: its plans are cut at the companion's time budget, so the others' p99 should stay within
2x of the default phase's). Requests still in flight when a phase ends are waited for and counted. Run:

    .venv/bin/python benchmarks/companion_load.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import json
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from companion_gpu import timing_predictor
from report import ROOT, write_section

# name -> (samples, iterations, greedy clients). A greedy client asks for the limits (2000 samples x 200
# iterations, horizon 16: a minute of one CPU thread unbounded); the others ask for the default.
PHASES = {"light (30 samples x 3 iterations)": (30, 3, 0), "default (300 samples x 30 iterations)": (300, 30, 0),
          "default, with 1 greedy client among them": (300, 30, 1)}
GREEDY = {"samples": 2000, "iterations": 200, "horizon": 16}


@dataclass
class Tally:
    latencies_s: list[float] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def start_server(state: Path, checkpoint: Path | None, port: int) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "device", "companion", "serve", "--port", str(port), "--state", str(state)]
    if checkpoint is not None:
        cmd += ["--checkpoint", str(checkpoint)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # the code line comes last, just before uvicorn binds
        print(f"server: {line.rstrip()}", file=sys.stderr)
        if "pairing code" in line:
            break
    import httpx

    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the companion did not answer /v1/health on port {port} within 30 s")


def client(url: str, device: Any, body: dict[str, Any], stop_at: float, tally: Tally) -> None:
    import httpx

    from device.navigation.companion_client import sign

    with httpx.Client(base_url=url, timeout=600) as http:
        while time.monotonic() < stop_at:
            payload = json.dumps(body).encode()
            ts, nonce = str(time.time()), secrets.token_hex(16)
            headers = {"X-Ami-Device": device.device_id, "X-Ami-Timestamp": ts, "X-Ami-Nonce": nonce,
                       "X-Ami-Signature": sign(device.secret, "POST", "/v1/plan", ts, nonce, payload),
                       "Content-Type": "application/json"}
            t0 = time.monotonic()
            try:
                r = http.post("/v1/plan", content=payload, headers=headers)
            except httpx.HTTPError as e:
                with tally.lock:
                    tally.errors.append(type(e).__name__)
                continue
            dt_s = time.monotonic() - t0
            with tally.lock:
                if r.status_code == 200:
                    tally.latencies_s.append(dt_s)
                    tally.batch_sizes.append(int(r.json()["batch_size"]))
                else:
                    tally.errors.append(f"HTTP {r.status_code}")


def run_phase(url: str, devices: list[Any], latent_dim: int, samples: int, iterations: int,
              seconds: float, greedy: int = 0) -> dict[str, Any]:
    """The phase's figures over the ordinary clients (the first `greedy` devices ask for GREEDY and
    are tallied apart: greedy_plans, greedy_p50_s)."""
    import numpy as np

    rng = np.random.default_rng(0)
    tally, greedy_tally = Tally(), Tally()
    t0 = time.monotonic()
    threads = []
    for i, dev in enumerate(devices):
        body = {"schema": "ami-plan-request/1", "start": {"latent": rng.normal(size=latent_dim).tolist()},
                "goal": {"latent": rng.normal(size=latent_dim).tolist()}, "horizon": 5, "planner": "cem",
                "samples": samples, "iterations": iterations, "seed": i, **(GREEDY if i < greedy else {})}
        threads.append(threading.Thread(target=client, args=(url, dev, body, t0 + seconds,
                                                             greedy_tally if i < greedy else tally)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    lat = sorted(tally.latencies_s)
    p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else float("nan")
    return {"plans": len(lat), "errors": len(tally.errors), "error_kinds": sorted(set(tally.errors)),
            "p50_s": statistics.median(lat) if lat else float("nan"), "p99_s": p99, "wall_s": wall,
            "plans_per_s": len(lat) / wall, "mean_batch": statistics.fmean(tally.batch_sizes) if lat else 0.0,
            "greedy_plans": len(greedy_tally.latencies_s),
            "greedy_p50_s": statistics.median(greedy_tally.latencies_s) if greedy_tally.latencies_s else float("nan")}


def _greedy_line(results: dict[str, dict[str, Any]]) -> str:
    """One sentence comparing the ordinary clients' p99 with and without the greedy client."""
    base, mixed = (results[name] for name in list(PHASES)[1:])
    return (f"With one greedy client (2000 samples x 200 iterations, horizon 16, every time) the other "
            f"clients' p99 is {mixed['p99_s'] / base['p99_s']:.2f}x the default phase's "
            f"(goal: 2x or less); the greedy client got {mixed['greedy_plans']} plans, median "
            f"{mixed['greedy_p50_s']:.2f} s each (cut at the companion's 1 s budget). The rows above count the "
            "ordinary clients only.")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=32, help="concurrent clients, one paired device each (default: 32)")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each phase (default: 60)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from companion_app.auth import DeviceRegistry
    from worldmodel.jepa import checkpoint_bytes

    load = os.getloadavg()[0]
    predictor, which, checkpoint = timing_predictor()
    with tempfile.TemporaryDirectory(prefix="ami-companion-load-") as tmp:
        if checkpoint is None:
            checkpoint = Path(tmp) / "jepa-untrained.pt"
            checkpoint.write_bytes(checkpoint_bytes(predictor, {"note": "untrained, for timing only"}))
        registry = DeviceRegistry(Path(tmp) / "state")
        devices = [registry.add(f"load-client-{i}", ttl_s=86_400.0, now=time.time()) for i in range(args.clients)]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        proc = start_server(registry.state_dir, checkpoint, port)
        try:
            results = {}
            for name, (samples, iterations, greedy) in PHASES.items():
                print(f"phase {name}: {args.clients} clients for {args.seconds:.0f} s", file=sys.stderr)
                results[name] = run_phase(f"http://127.0.0.1:{port}", devices, predictor.config.latent_dim,
                                          samples, iterations, args.seconds, greedy)
                print(f"  {results[name]}", file=sys.stderr)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
    command = f".venv/bin/python benchmarks/companion_load.py --clients {args.clients} --seconds {args.seconds:g}"
    rows = [f"| {name} | {r['plans']} | {r['errors']}{' (' + ', '.join(r['error_kinds']) + ')' if r['errors'] else ''}"
            f" | {r['p50_s']:.2f} s | {r['p99_s']:.2f} s | {r['plans_per_s']:.2f} | {r['mean_batch']:.1f} |"
            for name, r in results.items()]
    body = "\n".join([
        f"Measured {dt.date.today().isoformat()} with `{command}`: `ami companion serve` on loopback (CPU, 1 torch "
        f"thread, on this {os.cpu_count()}-core machine shared with other work: load average {load:.1f} at the "
        f"start) planning CEM, horizon 5, through {which}. "
        f"{args.clients} clients, one paired device each, every request signed; each phase lasts "
        f"{args.seconds:g} s and requests in flight at its end are waited for (so the phase can run longer).",
        "",
        "| request | plans answered | errors | p50 latency | p99 latency | plans per second | mean batch size |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        _greedy_line(results),
        "",
        "Latency is the client's round trip (queueing included). On one CPU thread a batch costs about the sum "
        "of its plans (see the batch ratio in the plan-time section), so with every client waiting, latency grows "
        "with the number of clients, up to the companion's time budget per batch (1 s): a batch of 32 default "
        "plans is cut there, with fewer iterations each. Batching is there for the GPU, where the rows of a batch "
        "run in parallel; no GPU was available to measure that here.",
    ])
    print(body)
    if not args.no_write:
        write_section("companion-load", body, "## Companion under load: 32 concurrent clients (issue 7)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
