"""The episodic store: SQLite is the truth, FAISS a rebuildable index. No torch here.

    from memory import MemoryStore
    with MemoryStore.open(folder, embedding_dim=D, patch_dim=Dp) as store:
        keyframe_id = store.add_keyframe(t, frame, session, pose, embedding, patches, grid)
        hits = store.search_patches(prototypes, min_score=0.6, t_before=t)
        store.forget_recorded_since(time.time() - 600)   # "forget the last 10 minutes"
        store.compact_in_background()                   # tiers and retention
        problems = store.verify()                       # [] when every invariant holds

docs/memory.md describes the design.
"""

from memory.errors import (
    ArchiveError,
    CorruptDatabaseError,
    DimensionMismatchError,
    EmbeddingSpaceMismatchError,
    IndexOutOfSyncError,
    IndexSaveError,
    InvalidInputError,
    ItemNotFoundError,
    KeyframeNotFoundError,
    MemoryInUseError,
    MemoryStoreError,
    SchemaTooNewError,
    StorageError,
    StoreClosedError,
)
from memory.archive import export_archive, import_archive
from memory.compact import CompactResult
from memory.config import RetentionPolicy, StoreConfig
from memory.reads import MemoryReader
from memory.store import MemoryStore
from memory.types import ForgetResult, ItemRecord, KeyframeHit, KeyframeRecord, PatchHit

__all__ = [
    "ArchiveError",
    "CompactResult",
    "export_archive",
    "import_archive",
    "CorruptDatabaseError",
    "DimensionMismatchError",
    "EmbeddingSpaceMismatchError",
    "ForgetResult",
    "IndexOutOfSyncError",
    "IndexSaveError",
    "InvalidInputError",
    "ItemNotFoundError",
    "ItemRecord",
    "KeyframeHit",
    "KeyframeNotFoundError",
    "KeyframeRecord",
    "MemoryInUseError",
    "MemoryReader",
    "MemoryStore",
    "MemoryStoreError",
    "PatchHit",
    "RetentionPolicy",
    "SchemaTooNewError",
    "StorageError",
    "StoreClosedError",
    "StoreConfig",
]
