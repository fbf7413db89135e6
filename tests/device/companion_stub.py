"""A minimal stand-in companion for the device client's tests, run as its own process on loopback.

It speaks the companion's HTTP contract (health, pair, signed plan) with the standard library
only, checks signatures on its own (not with the client's function), and can be made slow
(--delay-s) so a test can kill it in the middle of a request. Its plan walks straight ahead.

    python tests/device/companion_stub.py --port 8765 --code 1234-5678 [--delay-s 5]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import secrets
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--code", required=True)
    ap.add_argument("--delay-s", type=float, default=0.0, help="sleep this long before answering a plan")
    ap.add_argument("--devices", default=None, help="JSON file of paired devices, kept across restarts")
    args = ap.parse_args()
    devices: dict[str, str] = {}
    if args.devices:
        try:
            with open(args.devices, encoding="utf-8") as f:
                devices = json.load(f)
        except FileNotFoundError:
            pass

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a: Any) -> None:  # quiet
            pass

        def _send(self, code: int, obj: dict[str, Any]) -> None:
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/v1/health":
                self._send(200, {"schema": "ami-companion/1", "status": "ok", "checkpoint": "stub", "device": "cpu"})
            else:
                self._send(404, {"detail": "not found"})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path == "/v1/pair":
                if json.loads(body).get("code") != args.code:
                    return self._send(401, {"detail": "wrong pairing code"})
                device, secret = secrets.token_hex(8), base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
                devices[device] = secret
                if args.devices:
                    with open(args.devices, "w", encoding="utf-8") as f:
                        json.dump(devices, f)
                return self._send(200, {"device_id": device, "secret": secret, "expires_at": time.time() + 3600})
            if self.path != "/v1/plan":
                return self._send(404, {"detail": "not found"})
            h = self.headers
            secret = devices.get(h.get("X-Ami-Device", ""))
            if secret is None:
                return self._send(401, {"detail": "unknown device"})
            msg = "\n".join(["POST", self.path, h["X-Ami-Timestamp"], h["X-Ami-Nonce"], hashlib.sha256(body).hexdigest()])
            want = hmac.new(base64.urlsafe_b64decode(secret), msg.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(want, h.get("X-Ami-Signature", "")):
                return self._send(401, {"detail": "bad signature"})
            req = json.loads(body)
            time.sleep(args.delay_s)
            n = int(req["horizon"])
            self._send(200, {"schema": "ami-plan-response/1", "actions": [[0.5, 0.0, 0.0]] * n,
                             "energies": [1.0 / (i + 1) for i in range(n)], "compute_ms": 1.0, "device": "cpu",
                             "planner": req["planner"], "checkpoint": "stub"})

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"stub companion on http://127.0.0.1:{args.port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
