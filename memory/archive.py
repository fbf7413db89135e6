"""Export a memory to a portable archive and import it back into a new folder.

    ARCHIVE.tar.gz   (mode 0o600, written atomically)
      manifest.json  {"format": "ami-memory-archive/1", "db_sha256": ..., "keyframes": ...,
                      "items": ..., "embedding_dim": ..., "patch_dim": ..., "schema_version": ...}
      memory.db      a compact snapshot (VACUUM INTO): no WAL, no free pages, so nothing
                     forgotten travels; the search index is not exported, import rebuilds it

Import reads only those two members (no paths, no links), checks the sha256, and refuses a
target folder that already holds anything.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tarfile
import tempfile
import time
from pathlib import Path

from core.files import fsync_path
from memory import schema
from memory.errors import ArchiveError
from memory.folder import DB_FILE, FILE_MODE, make_private_folder
from memory.indexfiles import atomic_write
from memory.store import MemoryStore

logger = logging.getLogger(__name__)

ARCHIVE_FORMAT = "ami-memory-archive/1"
MANIFEST = "manifest.json"
_MEMBERS = {MANIFEST, DB_FILE}


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def export_archive(store: MemoryStore, out: Path) -> dict[str, object]:
    """Write `store` to `out` (.tar.gz) atomically with mode 0o600; returns the manifest."""
    store.save()
    out = Path(out)
    if not out.parent.is_dir():
        raise ArchiveError(f"cannot write {out}: folder {out.parent} does not exist; create it or pick --out")
    with tempfile.TemporaryDirectory(prefix=".ami-export-", dir=out.parent) as tmp:
        snapshot = Path(tmp) / DB_FILE
        store.snapshot(snapshot)
        stats = store.stats()
        manifest: dict[str, object] = {
            "format": ARCHIVE_FORMAT,
            "exported_at": time.time(),
            "db_sha256": _sha256_file(snapshot),
            "keyframes": stats["keyframes"],
            "items": stats["items"],
            "embedding_dim": store.embedding_dim,
            "patch_dim": store.patch_dim,
            "schema_version": schema.LATEST_VERSION,
        }
        buffer = Path(tmp) / "archive.tar.gz"
        with tarfile.open(buffer, "w:gz") as tar:
            data = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode, info.mtime = len(data), FILE_MODE, int(time.time())
            tar.addfile(info, io.BytesIO(data))
            tar.add(snapshot, arcname=DB_FILE, filter=_owner_only)
        try:
            atomic_write(out, memoryview(buffer.read_bytes()))
        except OSError as e:
            raise ArchiveError(f"cannot write {out} ({e.strerror}); free disk space or pick another --out") from e
    logger.info("exported %s to %s: %s keyframes", store.folder, out, manifest["keyframes"])
    return manifest


def _owner_only(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mode, info.uid, info.gid, info.uname, info.gname = FILE_MODE, 0, 0, "", ""
    return info


def import_archive(archive: Path, folder: Path) -> dict[str, object]:
    """Unpack `archive` into the new (or empty) `folder`, rebuild its index and verify it."""
    archive, folder = Path(archive), Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ArchiveError(f"{folder} is not empty; import into a new folder (--memory NEW_DIR)")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = {m.name: m for m in tar.getmembers()}
            if set(members) != _MEMBERS or not all(m.isfile() for m in members.values()):
                raise ArchiveError(f"{archive} is not an ami memory archive (members {sorted(members)}); "
                                   f"use a file written by `ami memory export`")
            manifest = json.loads(_read(tar, members[MANIFEST]))
            if not isinstance(manifest, dict) or manifest.get("format") != ARCHIVE_FORMAT:
                raise ArchiveError(f"{archive}: manifest format is not {ARCHIVE_FORMAT}; re-export it")
            make_private_folder(folder)
            target = folder / DB_FILE
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            with os.fdopen(fd, "wb") as f:
                source = tar.extractfile(members[DB_FILE])
                assert source is not None, "checked isfile() above"
                while chunk := source.read(1 << 20):
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            fsync_path(folder, directory=True)
    except (OSError, tarfile.TarError, EOFError, json.JSONDecodeError) as e:
        raise ArchiveError(f"cannot read {archive} ({e}); check the path, or re-export it") from e
    if _sha256_file(target) != manifest.get("db_sha256"):
        target.unlink()
        raise ArchiveError(f"{archive}: memory.db does not match its sha256 (damaged); re-export it")
    with MemoryStore.open_existing(folder) as store:  # rebuilds the index (an archive holds none)
        failed = store.verify()
        if failed:
            raise ArchiveError(f"{archive} imported into {folder}, but verify failed: {'; '.join(failed)}")
        if store.count() != manifest.get("keyframes"):
            raise ArchiveError(f"{archive}: holds {store.count()} keyframes, its manifest says "
                               f"{manifest.get('keyframes')}; re-export it")
    logger.info("imported %s into %s", archive, folder)
    return manifest


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    f = tar.extractfile(member)
    assert f is not None, "checked isfile() before"
    return f.read()
