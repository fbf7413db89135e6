"""Real file-system faults for the memory's tests: a read-only bind mount and a small tmpfs (root
only; a test skips where the kernel does not let it mount)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

CAN_MOUNT = shutil.which("mount") is not None and os.geteuid() == 0


def _mount(args: list[str], target: Path) -> None:
    target.mkdir(exist_ok=True)
    done = subprocess.run(["mount", *args, str(target)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here ({' '.join(args)}): {done.stderr.decode().strip()}")


@contextlib.contextmanager
def read_only_mount(source: Path, target: Path) -> Iterator[Path]:
    """`source` bind-mounted read-only at `target`: what even root cannot write."""
    _mount(["--bind", "-o", "ro", str(source)], target)
    try:
        if os.access(target, os.W_OK):
            pytest.skip("the read-only bind mount is writable here")
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)


@contextlib.contextmanager
def small_disk(target: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (e.g. "6m") at `target`; `grow(target, size)` makes room on it."""
    _mount(["-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs"], target)
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)


def grow(target: Path, size: str) -> None:
    """Resize the tmpfs at `target`: space returns."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(target)], check=True)
