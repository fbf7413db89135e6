"""The memory folder on disk: its layout, owner-only permissions and the single-writer lock.

    FOLDER/            mode 0o700 when the store creates it
      memory.db        SQLite, the truth (mode 0o600; SQLite gives -wal and -shm the same mode)
      keyframes-g<generation>-<token>.faiss   FAISS indexes (mode 0o600), rebuilt from memory.db
      patches-g<generation>-<token>.faiss     when missing, damaged or stale (see indexfiles.py)
      index.json       sidecar: names the index files, their sha256, and the database state
                       (store id, generation, counts) they were built from
      memory.lock      flock'd while a MemoryStore has the folder open
      memory.reserve   disk held back for a forget on a full disk (StoreConfig.reserve_bytes)
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from memory.errors import InvalidInputError, MemoryInUseError

logger = logging.getLogger(__name__)

DB_FILE = "memory.db"
LOCK_FILE = "memory.lock"
RESERVE_FILE = "memory.reserve"
FOLDER_MODE = 0o700
FILE_MODE = 0o600


def make_private_folder(folder: Path) -> None:
    """Create `folder` with mode 0o700; an existing one is left as is (with a warning if shared)."""
    if folder.exists():
        if not folder.is_dir():
            raise InvalidInputError(f"memory folder {folder} exists and is not a folder; pick another path")
        if stat.S_IMODE(folder.stat().st_mode) & 0o077:
            logger.warning("%s is open to other users; `chmod 700 %s` makes it private", folder, folder)
        return
    folder.mkdir(parents=True, mode=FOLDER_MODE)
    os.chmod(folder, FOLDER_MODE)  # mkdir's mode is masked by the umask


def make_private_file(path: Path) -> None:
    """Create `path` empty with mode 0o600 (before SQLite opens it), or tighten an existing one."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode != FILE_MODE:
            logger.warning("%s had mode %o; setting it to %o", path, mode, FILE_MODE)
    os.chmod(path, FILE_MODE)  # O_CREAT's mode is masked by the umask


def keep_reserve(folder: Path, nbytes: int) -> None:
    """Hold nbytes of disk in FOLDER/memory.reserve (allocated, not sparse) when it is missing and
    there is room; on a disk without room there is simply no reserve (logged)."""
    path = folder / RESERVE_FILE
    if nbytes <= 0 or (path.is_file() and path.stat().st_size >= nbytes):
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
        try:
            os.posix_fallocate(fd, 0, nbytes)
        finally:
            os.close(fd)
    except OSError as e:
        path.unlink(missing_ok=True)
        logger.info("no room for %s's %d-byte reserve (%s); a forget on a full disk may fail", folder, nbytes,
                    e.strerror)


def release_reserve(folder: Path) -> bool:
    """Give the reserve back to the disk (a full disk, to forget); whether there was one."""
    path = folder / RESERVE_FILE
    if not path.is_file():
        return False
    path.unlink()
    logger.warning("the disk holding %s is full: gave up its reserve so that the forget can run", folder)
    return True


def file_bytes(folder: Path, names: tuple[str, ...]) -> int:
    """Total size of those of `names` that exist in `folder`."""
    return sum((folder / name).stat().st_size for name in names if (folder / name).is_file())


class FolderLock:
    """An exclusive, non-blocking flock on FOLDER/memory.lock, held until `close()`.

    flock locks belong to the open file, so a second MemoryStore on the same folder fails even in
    the same process; the kernel drops the lock if the process dies.
    """

    def __init__(self, folder: Path) -> None:
        import fcntl  # POSIX only; imported here so that `import memory` stays portable

        self._fd: int | None = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            self.close()
            raise MemoryInUseError(folder) from e

    def close(self) -> None:
        """Release the lock (closing the file releases it). Closing twice is harmless."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
