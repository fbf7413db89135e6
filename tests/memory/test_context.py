"""StoreContext on its own, without a MemoryStore: the one commit step every write path shares."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from memory import StorageError, StoreConfig, schema
from memory.context import StoreContext
from memory.folder import DB_FILE


@pytest.fixture
def context(tmp_path: Path) -> Iterator[StoreContext]:
    db = schema.connect(tmp_path / DB_FILE)
    schema.migrate(db, tmp_path / DB_FILE)
    ctx = StoreContext(tmp_path, db, StoreConfig())
    ctx.init_meta(4, 2, None)
    yield ctx
    db.close()


def stored_generation(ctx: StoreContext) -> int:
    return int(schema.read_meta(ctx.live())[schema.META_GENERATION])


def test_a_change_commits_with_the_next_generation(context) -> None:
    with context.change("a place name") as db:
        db.execute("INSERT INTO place_names (name, x, z, t, session, recorded_at) VALUES ('desk', 0, 0, 1, 's', 1)")
    assert context.generation == stored_generation(context) == 1 and context.dirty


def test_a_failed_change_keeps_the_rows_and_the_generation(context) -> None:
    with pytest.raises(StorageError, match="a place name"), context.change("a place name") as db:
        db.execute("INSERT INTO place_names (name, x, z, t, session, recorded_at) VALUES ('desk', 0, 0, 1, 's', 1)")
        raise sqlite3.OperationalError("database or disk is full")
    assert context.generation == stored_generation(context) == 0 and not context.dirty
    assert context.live().execute("SELECT COUNT(*) FROM place_names").fetchone()[0] == 0
