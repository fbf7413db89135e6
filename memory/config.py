"""The store's configuration: durability and the retention policy, as frozen, validated dataclasses."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

SECONDS_PER_DAY = 86_400.0
SYNCHRONOUS_MODES = ("NORMAL", "FULL", "EXTRA")


@dataclass(frozen=True)
class RetentionPolicy:
    """How long keyframes keep which detail, by the wall-clock age of their `recorded_at`.

    Younger than `full_detail_days`: the recent tier (exact search over embeddings and patches).
    Then, until `keep_days`: the long-term tier (compressed embedding, no patches).
    Older than `keep_days`: dropped. `keep_days=None` keeps the long-term tier forever.
    """

    full_detail_days: float = 7.0
    keep_days: float | None = 365.0

    def __post_init__(self) -> None:
        if not (isinstance(self.full_detail_days, (int, float)) and math.isfinite(self.full_detail_days)
                and self.full_detail_days > 0):
            raise ValueError(f"RetentionPolicy.full_detail_days must be a number > 0, got {self.full_detail_days!r}")
        if self.keep_days is not None and not (
            isinstance(self.keep_days, (int, float)) and self.keep_days >= self.full_detail_days
        ):
            raise ValueError(
                f"RetentionPolicy.keep_days must be None (keep forever) or a number >= full_detail_days "
                f"({self.full_detail_days}), got {self.keep_days!r}"
            )

    @property
    def full_detail_s(self) -> float:
        """full_detail_days in seconds."""
        return self.full_detail_days * SECONDS_PER_DAY

    @property
    def keep_s(self) -> float | None:
        """keep_days in seconds, or None."""
        return None if self.keep_days is None else self.keep_days * SECONDS_PER_DAY


@dataclass(frozen=True)
class StoreConfig:
    """How a MemoryStore writes.

    `synchronous` is SQLite's durability setting (see schema.connect and docs/memory.md): FULL
    makes each keyframe durable against power loss when add_keyframe returns.
    """

    synchronous: str = "FULL"
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    pq_bytes: int = 48  # long-term tier: PQ code bytes per keyframe (plus an 8-byte id)
    nprobe: int = 32  # long-term tier: IVF lists visited per query
    candidates_per_hit: int = 8  # long-term tier: candidates reranked exactly per hit asked for
    min_longterm_train: int = 10_000  # keyframes due for the long-term tier before it is trained
    # Disk held back in FOLDER/memory.reserve while there is room, and given up on a full disk so that a
    # forget (or a stopped replay's undo) can still run: deleting rows writes to the WAL first.
    reserve_bytes: int = 4 * 1024 * 1024

    def __post_init__(self) -> None:
        allowed = {"pq_bytes": (4, 8, 12, 16, 24, 32, 48, 64, 96), "nprobe": range(1, 4097),
                   "candidates_per_hit": range(1, 1025), "min_longterm_train": range(1024, 10**9)}
        for name, values in allowed.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value not in values:
                shown = values if isinstance(values, tuple) else f"{values.start}..{values.stop - 1}"
                raise ValueError(f"StoreConfig.{name} must be an integer in {shown}, got {value!r}")
        if isinstance(self.reserve_bytes, bool) or not isinstance(self.reserve_bytes, int) or self.reserve_bytes < 0:
            raise ValueError(f"StoreConfig.reserve_bytes must be an integer >= 0, got {self.reserve_bytes!r}")
        if self.synchronous not in SYNCHRONOUS_MODES:
            raise ValueError(
                f"StoreConfig.synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}, got {self.synchronous!r}"
            )
        if not isinstance(self.retention, RetentionPolicy):
            raise ValueError(f"StoreConfig.retention must be a RetentionPolicy, got {self.retention!r}")
