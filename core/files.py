"""Atomic, owner-only file writes: readers (and a crash) see the old file or the new one, whole.

The temporary file is created by `tempfile.mkstemp` beside the target (same filesystem, so
`os.replace` is atomic), as "." + name + "." + random + suffix, with mode 0o600 whatever the umask:
what the glasses write (memories, pairings, responses, frames) is the wearer's, owner-only.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

OWNER_ONLY = 0o600


def fsync_path(path: Path | str, *, directory: bool = False) -> None:
    """fsync a file or (with directory=True) a folder, so a rename in it is durable."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_atomically(path: Path | str, write: Callable[[str], None], *, suffix: str = ".tmp",
                       mode: int = OWNER_ONLY, durable: bool = False) -> None:
    """Call `write(tmp)` on a fresh temporary file beside `path`, then rename it over `path`.

    The parent folder is created if missing. mode: the file's mode (mkstemp makes it 0o600; a
    model that is not private data may ask for 0o644). suffix: the temporary name's ending (numpy's
    savez wants ".npz"). durable: also fsync the folder after the rename. On any error the
    temporary file is removed and the error raised; `path` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        if mode != OWNER_ONLY:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        fsync_path(path.parent, directory=True)


def write_bytes_atomic(path: Path | str, data: bytes, *, durable: bool = False) -> None:
    """Replace `path` with `data` (fsynced), owner-only."""
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    replace_atomically(path, write, durable=durable)


def write_text_atomic(path: Path | str, text: str) -> None:
    """Replace `path` with UTF-8 `text` (fsynced), owner-only."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path | str, obj: Any) -> None:
    """Write JSON (indented, newline-terminated) so readers never see half a file."""
    write_text_atomic(path, json.dumps(obj, indent=2) + "\n")
