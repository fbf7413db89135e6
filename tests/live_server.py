"""A real uvicorn server on a free loopback port, for the tests of both local servers (the
companion's API, `ami view`); and a command started so that Ctrl-C (SIGINT) reaches it."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from typing import Any

import uvicorn


class LiveServer:
    """uvicorn serving `app` on a socket bound to a free loopback port; stops on exit."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "uvicorn did not start within 20 s"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
        self.sock.close()


def interruptible(args: list[str], **popen: Any) -> subprocess.Popen:
    """Popen(args) whose SIGINT is Python's KeyboardInterrupt, as at a terminal. A run started in the
    background by a shell without job control (`make test &`) ignores SIGINT, and a child inherits an
    ignored signal (its Ctrl-C would do nothing); a handled one is reset to the default in the child."""
    ignored = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(args, **popen)
    finally:
        signal.signal(signal.SIGINT, ignored)
