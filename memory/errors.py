"""Errors raised by the episodic store; each message says how to fix the problem.

Every error subclasses `MemoryStoreError` (a `RuntimeError`), and also the built-in that fits its
meaning (`ValueError` for bad input, `LookupError` for a missing row), so callers can catch either.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import AmiError


class MemoryStoreError(AmiError, RuntimeError):
    """Base class of every error raised by `memory/`."""


class InvalidInputError(MemoryStoreError, ValueError):
    """An argument has the wrong shape, dtype or value; the message names it and what is allowed."""


class StoreClosedError(MemoryStoreError):
    """The store was used after `close()`."""

    def __init__(self, folder: Path) -> None:
        super().__init__(
            f"the memory at {folder} is closed; open it again with MemoryStore.open({str(folder)!r}, ...)"
        )


class DimensionMismatchError(MemoryStoreError, ValueError):
    """An existing memory was opened with other embedding dims than it was created with."""

    def __init__(self, folder: Path, name: str, stored: int, requested: int) -> None:
        self.stored = stored
        self.requested = requested
        super().__init__(
            f"the memory at {folder} stores {name}={stored}, but it was opened with "
            f"{name}={requested}; open it with the encoder that wrote it (--encoder, "
            f"--encoder-manifest), or point --memory at a new folder for the new encoder"
        )


class EmbeddingSpaceMismatchError(MemoryStoreError, ValueError):
    """An existing memory was opened by an encoder whose embeddings live in another space."""

    def __init__(self, folder: Path, stored: str, requested: str) -> None:
        self.stored = stored
        self.requested = requested
        super().__init__(
            f"the memory at {folder} was built by the encoder {stored!r}, but this encoder is "
            f"{requested!r}; its searches would compare unrelated vectors. Use the encoder that "
            f"wrote the memory (--encoder, --encoder-manifest), or point --memory at a new folder"
        )


class SchemaTooNewError(MemoryStoreError):
    """The database was written by a newer ami-glasses than this one."""

    def __init__(self, db_path: Path, found: int, known: int) -> None:
        super().__init__(
            f"{db_path} has schema version {found}, but this ami-glasses knows versions up to "
            f"{known}; upgrade ami-glasses (pip install -U ami-glasses) to open it"
        )


class CorruptDatabaseError(MemoryStoreError):
    """memory.db is unreadable, or one of its rows does not decode."""

    def __init__(self, db_path: Path, detail: str) -> None:
        super().__init__(
            f"{db_path} is damaged ({detail}); restore it from a backup, or move the folder "
            f"aside and start a new memory"
        )


class MemoryInUseError(MemoryStoreError):
    """Another MemoryStore (in this or another process) has the folder open."""

    def __init__(self, folder: Path) -> None:
        super().__init__(
            f"the memory at {folder} is already open in another MemoryStore (this or another "
            f"process); close that one first, or stop the other `ami` process"
        )


class MemoryPausedError(MemoryStoreError):
    """The wearer paused the memory: no keyframe is kept until they resume (memory/pause.py)."""

    def __init__(self, folder: Path) -> None:
        super().__init__(f"the memory at {folder} is paused: nothing seen is kept until you say \"resume\" "
                         f"(or run `ami memory resume --memory {folder}`)")


class IndexOutOfSyncError(MemoryStoreError):
    """The in-memory FAISS index no longer matches memory.db (a write failed half-way)."""

    def __init__(self, folder: Path, detail: str) -> None:
        super().__init__(
            f"the search index of {folder} no longer matches memory.db ({detail}); the database "
            f"is intact: run `ami memory rebuild --memory {folder}` to rebuild the index"
        )


class KeyframeNotFoundError(MemoryStoreError, LookupError):
    """No keyframe has the requested id."""

    def __init__(self, keyframe_id: int) -> None:
        self.keyframe_id = keyframe_id
        super().__init__(
            f"no keyframe with id {keyframe_id}; use an id returned by add_keyframe() or a search "
            f"of this memory"
        )


class ItemNotFoundError(MemoryStoreError, LookupError):
    """No item is enrolled under the requested name."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        listed = ", ".join(repr(k) for k in known) or "none"
        super().__init__(f"no item is enrolled as {name!r} (enrolled: {listed}); use one of those names")


class IndexSaveError(MemoryStoreError, OSError):
    """The index files could not be written (a full disk, a read-only folder)."""

    def __init__(self, folder: Path, cause: OSError) -> None:
        super().__init__(
            f"could not save the search index of {folder}: {cause.strerror or cause}. memory.db holds "
            f"every acknowledged keyframe and the previous index files are intact; free disk space "
            f"(or fix the folder's permissions) and save again, or reopen: the index is rebuilt"
        )


class StorageError(MemoryStoreError, OSError):
    """memory.db refused a write (a full disk, an I/O error); nothing of that write was stored."""

    def __init__(self, db_path: Path, what: str, cause: Exception) -> None:
        super().__init__(
            f"could not store {what} in {db_path} ({cause}); nothing of it was stored and the memory "
            f"is intact: free disk space, then retry"
        )


class ReadOnlyMemoryError(MemoryStoreError, PermissionError):
    """A write to a memory opened read-only (its folder cannot be written); nothing was changed."""

    def __init__(self, folder: Path, what: str) -> None:
        super().__init__(
            f"the memory folder {folder} is read-only, so {what} cannot be stored (nothing was changed); "
            f"reading works (`ami memory stats`, `verify`, `ami ask`): to write, make the folder writable "
            f"(chmod u+w {folder}) or copy the memory to one you can write"
        )


class ArchiveError(MemoryStoreError):
    """An export or import that cannot go ahead; the message says why and what to do."""
