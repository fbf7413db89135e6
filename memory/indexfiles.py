"""The index files on disk: atomic, checksummed saves that memory.db's generation vouches for.

    FOLDER/
      keyframes-g<generation>-<token>.faiss   one file per named FAISS index ...
      patches-g<generation>-<token>.faiss     ... fresh names on every save, never overwritten
      index.json                              the sidecar: the commit point of a save

A save writes each index to a new file (temp file, write, fsync, rename, fsync the folder), then
replaces index.json atomically, then deletes the files the old sidecar named. index.json names
the files, their sizes and sha256, and the database state they were built from (store id,
generation, counts, dims). Until index.json is replaced the old sidecar and its old files are
untouched, so a crash or a full disk at any point leaves either the old save or the new one,
whole. On open, `load` accepts the files only if the sidecar parses, its state equals the
database's, and every file has the recorded size and sha256; otherwise the store rebuilds from
SQLite. Nothing here reads SQLite.

The long-term index is served memory-mapped (`map_index`): its inverted lists stay in the file,
and the kernel pages in the lists a query visits, so the process's heap does not grow with the
number of long-term keyframes (the file is never rewritten: each save writes a new name).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import BinaryIO

import faiss
import numpy as np

from core.files import replace_atomically

logger = logging.getLogger(__name__)

SIDECAR_FILE = "index.json"
SIDECAR_FORMAT = "ami-memory-index/2"
_INDEX_FILE = re.compile(r"^[a-z]+-g\d+-[0-9a-f]{8}\.faiss$")
# Left by a crash inside atomic_write: "." + target name + "." + random + ".tmp".
_TEMP_FILE = re.compile(r"^\.(index\.json|[a-z]+-g\d+-[0-9a-f]{8}\.faiss|[a-z]+\.faiss)\..+\.tmp$")
_LEGACY_FILES = ("keyframes.faiss", "patches.faiss")  # written by the v0 store
_CHUNK_BYTES = 1 << 22  # write 4 MiB at a time


@dataclass(frozen=True)
class IndexState:
    """The database state an index was built from; the sidecar must equal the database's."""

    store_id: str
    generation: int
    keyframes: int  # both tiers
    patches: int
    longterm: int  # keyframes in the long-term tier
    embedding_dim: int
    patch_dim: int

    @classmethod
    def from_json(cls, data: dict[str, object]) -> IndexState:
        """Parse the state fields of a sidecar; raises ValueError when one is missing or mistyped."""
        values = {}
        for f in fields(cls):
            value = data.get(f.name)
            wanted = str if f.name == "store_id" else int
            if type(value) is not wanted:
                raise ValueError(f"field {f.name!r} is {value!r}, expected {wanted.__name__}")
            values[f.name] = value
        return cls(**values)  # type: ignore[arg-type]

    def differences(self, other: IndexState) -> list[str]:
        """Human-readable 'field: self != other' for each field that differs."""
        mine, theirs = asdict(self), asdict(other)
        return [f"{k} {mine[k]!r} != {theirs[k]!r}" for k in mine if mine[k] != theirs[k]]


def write_file(path: str, data: memoryview) -> None:
    """Write `data` to the (existing, empty) file `path` and fsync it. Raises OSError (ENOSPC...)."""
    with open(path, "wb") as f:
        for start in range(0, len(data), _CHUNK_BYTES):
            f.write(data[start : start + _CHUNK_BYTES])
        f.flush()
        os.fsync(f.fileno())


def atomic_write(path: Path, data: bytes | memoryview) -> None:
    """Replace `path` with `data` so that readers (and a crash) see the old file or the new, whole."""
    # Written in chunks by write_file (the fault tests replace it to simulate a full disk).
    replace_atomically(path, lambda tmp: write_file(tmp, memoryview(data)), durable=True)


def sha256(data: bytes | memoryview) -> str:
    """Hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def _read_sidecar(folder: Path) -> dict[str, object]:
    data = json.loads((folder / SIDECAR_FILE).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("format") != SIDECAR_FORMAT:
        raise ValueError(f"not an {SIDECAR_FORMAT} sidecar")
    if not isinstance(data.get("files"), dict):
        raise ValueError("field 'files' is missing")
    return data


def serialize(indexes: dict[str, faiss.Index]) -> dict[str, tuple[memoryview, int]]:
    """name -> (the index's bytes, its ntotal): a copy, so the files can be written while the
    indexes keep changing."""
    return {name: (memoryview(faiss.serialize_index(index)), int(index.ntotal)) for name, index in indexes.items()}


@dataclass
class Mapped:
    """A read-only index served from its file, and the open file (for an in-RAM copy or a re-save
    even after a later save deleted the file's name)."""

    index: faiss.Index
    file: BinaryIO

    def data(self) -> bytes:
        self.file.seek(0)
        return self.file.read()


def map_index(path: Path) -> Mapped:
    """Open a saved index memory-mapped. Never change the result in place: FAISS aborts the process
    on a write to mapped lists; take `faiss.deserialize_index(mapped.data())` to change it."""
    f = path.open("rb")
    try:
        return Mapped(faiss.read_index(str(path), faiss.IO_FLAG_MMAP), f)
    except BaseException:
        f.close()
        raise


def save(folder: Path, state: IndexState, serialized: dict[str, tuple[memoryview, int]]) -> dict[str, Path]:
    """Write the serialized indexes as new files, then commit them with a new sidecar; returns
    where each index was written.

    Raises OSError (for example ENOSPC) with the previous sidecar and its files untouched.
    """
    token = secrets.token_hex(4)
    files: dict[str, dict[str, object]] = {}
    written: list[Path] = []
    try:
        for name, (data, ntotal) in serialized.items():
            path = folder / f"{name}-g{state.generation}-{token}.faiss"
            atomic_write(path, data)
            written.append(path)
            files[name] = {"file": path.name, "bytes": len(data), "sha256": sha256(data), "ntotal": ntotal}
        sidecar = {"format": SIDECAR_FORMAT, **asdict(state), "files": files}
        atomic_write(folder / SIDECAR_FILE, (json.dumps(sidecar, indent=2) + "\n").encode())
    except BaseException:
        for path in written:  # never referenced by a sidecar: safe to drop
            path.unlink(missing_ok=True)
        raise
    remove_unreferenced(folder)
    logger.debug("saved index of %s: %s", folder, state)
    return {name: folder / str(entry["file"]) for name, entry in files.items()}


def referenced_files(folder: Path) -> set[str]:
    """Names of the index files the current sidecar names (empty when it is unreadable)."""
    try:
        files = _read_sidecar(folder)["files"]
    except (OSError, ValueError):
        return set()
    assert isinstance(files, dict), "checked by _read_sidecar"
    return {str(entry.get("file")) for entry in files.values() if isinstance(entry, dict)}


def remove_all(folder: Path) -> None:
    """Delete the sidecar (the commit point) and then every index file: the memory has no saved
    index until the next save, and the next open rebuilds it from memory.db."""
    (folder / SIDECAR_FILE).unlink(missing_ok=True)
    remove_unreferenced(folder)


def unreferenced(folder: Path) -> list[Path]:
    """Our temp files (a save that was killed) and the index files the sidecar does not name (older
    saves): what remove_unreferenced deletes."""
    keep = referenced_files(folder)
    return [path for path in folder.iterdir()
            if (bool(_INDEX_FILE.match(path.name) or _TEMP_FILE.match(path.name)) or path.name in _LEGACY_FILES)
            and path.name not in keep]


def remove_unreferenced(folder: Path) -> int:
    """Delete the unreferenced files; the bytes freed."""
    freed = 0
    for path in unreferenced(folder):
        freed += path.stat().st_size if path.is_file() else 0
        path.unlink(missing_ok=True)
    return freed


def load(folder: Path, expected: IndexState,
         mapped: tuple[str, ...] = ()) -> tuple[dict[str, faiss.Index | Mapped] | None, str]:
    """The saved indexes (name -> index) if the sidecar matches `expected` and every file its
    checksum, else (None, why they cannot be used). The indexes named in `mapped` are opened
    memory-mapped (`Mapped`), once their file has passed its checksum."""
    if not (folder / SIDECAR_FILE).is_file():
        return None, f"{SIDECAR_FILE} is missing"
    try:
        data = _read_sidecar(folder)
        state = IndexState.from_json(data)
    except (OSError, ValueError) as e:
        return None, f"{SIDECAR_FILE} is unreadable: {e}"
    if state != expected:
        return None, f"{SIDECAR_FILE} disagrees with memory.db: {'; '.join(state.differences(expected))}"
    files = data["files"]
    assert isinstance(files, dict), "checked by _read_sidecar"
    out: dict[str, faiss.Index | Mapped] = {}
    for name in files:
        entry = files[name]
        if not isinstance(entry, dict) or not _INDEX_FILE.match(str(entry.get("file"))):
            return None, f"{SIDECAR_FILE} has a malformed entry for {name!r}"
        path = folder / str(entry["file"])
        try:
            data_ = path.read_bytes()
        except OSError as e:
            return None, f"{path.name} is unreadable: {e.strerror}"
        if len(data_) != entry.get("bytes") or sha256(data_) != entry.get("sha256"):
            return None, f"{path.name} does not match its checksum in {SIDECAR_FILE} (damaged or truncated)"
        try:
            got: faiss.Index | Mapped = (map_index(path) if name in mapped
                                         else faiss.deserialize_index(np.frombuffer(data_, np.uint8)))
        except (RuntimeError, OSError) as e:
            return None, f"{path.name} does not parse: {e}"
        del data_
        ntotal = (got.index if isinstance(got, Mapped) else got).ntotal
        if ntotal != entry.get("ntotal"):
            return None, f"{path.name} holds {ntotal} vectors, the sidecar says {entry.get('ntotal')}"
        out[name] = got
    return out, ""
