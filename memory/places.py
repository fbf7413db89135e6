"""The wearer's names for places ("this is the kitchen") in memory.db's `place_names` table.

A name is anchored where the wearer stood when they said it: (x, z) on the floor plane, the
session clock t, and the wall clock recorded_at. Naming a spot again replaces the names within
`replace_radius_m` of it. Names are the wearer's words about their home, so every forget that
covers their time, their place or everything removes them too (memory/forget.py).
"""

from __future__ import annotations

from sqlite_utils import Database

from memory import inputs
from memory.errors import InvalidInputError
from memory.types import PlaceName

_COLUMNS = "name, x, z, t, session"


def near(x: float, z: float, radius_m: float) -> tuple[str, tuple[float, ...]]:
    """The place_names rows anchored within radius_m of (x, z): an SQL condition and its parameters."""
    return "(x - ?) * (x - ?) + (z - ?) * (z - ?) <= ? * ?", (x, x, z, z, radius_m, radius_m)


def name_place(db: Database, name: str, x: float, z: float, t: float, session: str, recorded_at: float,
               replace_radius_m: float) -> PlaceName:
    """Store `name` at (x, z), replacing the names within replace_radius_m (inside one transaction)."""
    name = " ".join(inputs.text(name, "name").lower().split())
    x, z, t = inputs.finite_float(x, "x"), inputs.finite_float(z, "z"), inputs.finite_float(t, "t")
    session = inputs.text(session, "session")
    r = inputs.finite_float(replace_radius_m, "replace_radius_m")
    if r < 0:
        raise InvalidInputError(f"replace_radius_m must be >= 0, got {r}")
    with db.atomic():
        where, params = near(x, z, r)
        db.execute(f"DELETE FROM place_names WHERE {where}", params)
        db.execute(f"INSERT INTO place_names ({_COLUMNS}, recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
                   (name, x, z, t, session, recorded_at))
    return PlaceName(name, (x, z), t)


def list_all(db: Database) -> list[PlaceName]:
    """Every named place, oldest first."""
    rows = db.execute(f"SELECT {_COLUMNS} FROM place_names ORDER BY recorded_at, rowid").fetchall()
    return [PlaceName(str(n), (float(x), float(z)), float(t)) for n, x, z, t, _ in rows]


def count(db: Database) -> int:
    return int(db.execute("SELECT COUNT(*) FROM place_names").fetchone()[0])
