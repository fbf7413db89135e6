"""The house plan: 3 to 5 rectangular rooms joined by doorways, with furniture, paintings, items.

`generate_house` is pure numpy and never imports miniworld: from a seed it lays out the rooms,
doorways, textures, furniture, paintings and the spots where items can rest. `house.py` builds
the MiniWorld environment from the plan; `wearer.py` plans the wearer's walk through it.

Coordinates follow MiniWorld and session format v1: metres, y up, the floor at y = 0. Rooms are
axis-aligned rectangles that share walls; a point on a shared wall belongs to no room.
"""

from __future__ import annotations

import importlib.util
import logging
import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from device.sim.errors import SimError
from device.sim.shift import varied_look
from device.sim.plan import (  # noqa: F401 (the plan's parts, re-exported)
    WALL_HEIGHT_M, DOOR_WIDTH_M, DOOR_HEIGHT_M, ROOM_SIZE_RANGE_M, WALK_MARGIN_M, CORNER_MARGIN_M, DOOR_CLEAR_M,
    CAMERA_HEIGHT_M, PAINTING_Y_M, PAINTING_WIDTH_M, FLOOR_TEXTURES, WALL_TEXTURES, CEILING_TEXTURES, MESH_COLORS,
    FURNITURE_KINDS, PHONE_SIZE_M, ITEM_KINDS, ItemKind, HouseConfig, Rect, Door, Furniture, Painting, Spot, Room,
    Item, HouseLayout,
)

log = logging.getLogger(__name__)


def miniworld_dir() -> Path:
    """The installed miniworld package folder, found without importing it."""
    spec = importlib.util.find_spec("miniworld")
    if spec is None or not spec.submodule_search_locations:
        raise SimError("miniworld is not installed; run `pip install -e .[sim]` (miniworld==2.1.0, pyglet<2)")
    return Path(list(spec.submodule_search_locations)[0])


def portrait_textures() -> list[str]:
    """The file names of MiniWorld's bundled portraits, sorted."""
    return sorted(p.name for p in (miniworld_dir() / "textures" / "portraits").glob("*.png"))


class _WallSlots:
    """Free intervals along one wall, so furniture, spots and paintings never overlap."""

    def __init__(self, length: float) -> None:
        self.length = length
        self.floor: list[tuple[float, float]] = []
        self.high: list[tuple[float, float]] = []

    def take(self, rng: np.random.Generator, width: float, high: bool = False) -> float | None:
        taken = self.high if high else self.floor
        margin = 0.4 if high else CORNER_MARGIN_M
        lo, hi = margin + width / 2, self.length - margin - width / 2
        for _ in range(40):
            if hi < lo:
                return None
            s = float(rng.uniform(lo, hi))
            if all(s + width / 2 + 0.1 <= a or s - width / 2 - 0.1 >= b for a, b in taken):
                taken.append((s - width / 2, s + width / 2))
                return s
        return None


# Walls of a rectangle: name -> (axis along the wall, inward normal (dx, dz))
_WALLS = {"north": ("x", (0.0, 1.0)), "south": ("x", (0.0, -1.0)),
          "west": ("z", (1.0, 0.0)), "east": ("z", (-1.0, 0.0))}


def _wall_point(rect: Rect, wall: str, s: float, offset: float) -> tuple[float, float]:
    """The point `s` metres along `wall` (from its min end) and `offset` metres into the room."""
    if wall == "north":
        return rect.min_x + s, rect.min_z + offset
    if wall == "south":
        return rect.min_x + s, rect.max_z - offset
    if wall == "west":
        return rect.min_x + offset, rect.min_z + s
    return rect.max_x - offset, rect.min_z + s


def facing_dir(dx: float, dz: float) -> float:
    """MiniWorld dir (radians) whose forward (cos dir, 0, -sin dir) points along (dx, dz)."""
    return math.atan2(-dz, dx)


def _grid(rng: np.random.Generator, n: int) -> list[tuple[int, int]]:
    """Grid cells (row, col) of the floor plan: a line or an L for 3 rooms, 2 rows for 4 and 5."""
    if n == 3 and rng.random() < 0.4:
        return [(0, 0), (0, 1), (0, 2)]
    cols = math.ceil(n / 2)
    return [(r, c) for r in range(2) for c in range(cols)][:n]


def generate_house(config: HouseConfig) -> HouseLayout:
    """Lay out a house from `config.seed`: rooms, doors, textures, furniture, paintings and items.

    A draw with too few free spots for the items is redrawn from the next sub-stream of the same
    seed, so every seed gives a house, and always the same one.
    """
    for attempt in range(50):
        layout = _generate(config, np.random.default_rng([config.seed, 1, attempt]))
        if layout is not None:
            return layout
    raise SimError(f"seed {config.seed}: no house with room for the items after 50 draws; try another seed")


def _generate(config: HouseConfig, rng: np.random.Generator) -> HouseLayout | None:
    n = config.n_rooms if config.n_rooms is not None else int(rng.integers(3, 6))
    cells = _grid(rng, n)
    rows, cols = max(r for r, _ in cells) + 1, max(c for _, c in cells) + 1
    widths = np.round(rng.uniform(*ROOM_SIZE_RANGE_M, size=cols), 1)
    depths = np.round(rng.uniform(*ROOM_SIZE_RANGE_M, size=rows), 1)
    xs = np.concatenate([[0.0], np.cumsum(widths)]) - widths.sum() / 2  # centred: MiniWorld's light is at 0
    zs = np.concatenate([[0.0], np.cumsum(depths)]) - depths.sum() / 2
    xs, zs = np.round(xs, 2), np.round(zs, 2)
    rects = [Rect(float(xs[c]), float(xs[c + 1]), float(zs[r]), float(zs[r + 1])) for r, c in cells]

    # Doors: a random spanning tree over neighbouring cells, plus some extra doors for loops.
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)
             if abs(cells[i][0] - cells[j][0]) + abs(cells[i][1] - cells[j][1]) == 1]
    group = list(range(n))
    chosen = []
    for k in rng.permutation(len(pairs)):
        i, j = pairs[int(k)]
        gi, gj = group[i], group[j]
        if gi != gj or rng.random() < 0.35:
            chosen.append((i, j))
            group = [gi if g == gj else g for g in group]
    slots = {(k, w): _WallSlots((r.max_x - r.min_x) if _WALLS[w][0] == "x" else (r.max_z - r.min_z))
             for k, r in enumerate(rects) for w in _WALLS}
    doors = []
    for i, j in sorted(chosen):
        a = rects[i]
        if cells[i][0] == cells[j][0]:  # same row: the wall is at x = a.max_x
            s = float(np.round(rng.uniform(1.3, (a.max_z - a.min_z) - 1.3), 2))
            doors.append(Door(i, j, a.max_x, a.min_z + s, (1.0, 0.0)))
            walls = ((i, "east"), (j, "west"))
        else:  # same column: the wall is at z = a.max_z
            s = float(np.round(rng.uniform(1.3, (a.max_x - a.min_x) - 1.3), 2))
            doors.append(Door(i, j, a.min_x + s, a.max_z, (0.0, 1.0)))
            walls = ((i, "south"), (j, "north"))
        half = DOOR_WIDTH_M / 2 + DOOR_CLEAR_M
        for key in walls:
            slots[key].floor.append((s - half, s + half))
            slots[key].high.append((s - DOOR_WIDTH_M / 2 - 0.2, s + DOOR_WIDTH_M / 2 + 0.2))

    floors = [str(t) for t in rng.permutation(FLOOR_TEXTURES)]
    walls_tex = [str(t) for t in rng.permutation(WALL_TEXTURES)]
    portraits = portrait_textures()
    portrait_order = rng.permutation(len(portraits))
    rooms = []
    for k, rect in enumerate(rects):
        furniture: list[Furniture] = []
        spots: list[Spot] = []
        kinds = [str(rng.choice(["desk", "cabinet"]))]
        kinds += [str(x) for x in rng.choice(list(FURNITURE_KINDS), size=int(rng.integers(1, 3)), replace=False)]
        for kind in kinds:
            mesh, height, width, depth, surface = FURNITURE_KINDS[kind]
            for wall in (str(w) for w in rng.permutation(list(_WALLS))):
                s = slots[(k, wall)].take(rng, width)
                if s is None:
                    continue
                _, (nx, nz) = _WALLS[wall]
                x, z = _wall_point(rect, wall, s, 0.05 + depth / 2)
                # Desks and cabinets run along the wall (their long side is the mesh's x axis);
                # chairs and barrels face into the room.
                d = facing_dir(nx, nz) + (math.pi / 2 if surface else 0.0)
                furniture.append(Furniture(kind, mesh, x, z, d, height, surface))
                if surface:
                    spots.append(Spot(k, x, height, z, kind, (nx, nz)))
                break
        for _ in range(int(rng.integers(3, 5))):
            wall = str(rng.choice(list(_WALLS)))
            s = slots[(k, wall)].take(rng, 0.7)
            if s is not None:
                _, (nx, nz) = _WALLS[wall]
                x, z = _wall_point(rect, wall, s, 0.5)
                spots.append(Spot(k, x, 0.0, z, "floor", (nx, nz)))
        paintings: list[Painting] = []
        for _ in range(int(rng.integers(1, 3))):
            wall = str(rng.choice(list(_WALLS)))
            s = slots[(k, wall)].take(rng, PAINTING_WIDTH_M, high=True)
            if s is not None:
                _, (nx, nz) = _WALLS[wall]
                x, z = _wall_point(rect, wall, s, 0.0)
                tex = portraits[int(portrait_order[2 * k + len(paintings)])]
                paintings.append(Painting(tex, x, PAINTING_Y_M, z, facing_dir(nx, nz), PAINTING_WIDTH_M))
        rooms.append(Room(k, rect, floors[k], walls_tex[k], str(rng.choice(CEILING_TEXTURES)),
                          tuple(furniture), tuple(paintings), tuple(spots)))

    items = _choose_items(rng, config.n_items if config.n_items is not None else int(rng.integers(3, 7)))
    if config.varied_looks:  # the same house and script, other looks: its own stream of draws
        looks_rng = np.random.default_rng([config.seed, 4])
        meshes = tuple(k.mesh for k in ITEM_KINDS)
        items = tuple(replace(it, **varied_look(looks_rng, meshes, MESH_COLORS, it.height_m)) for it in items)
    all_spots = [s for r in rooms for s in r.spots]
    start: list[Spot] = []  # spread the items: at most two start in one room, if there is space
    order = [all_spots[int(i)] for i in rng.permutation(len(all_spots))]
    for cap in (2, len(items)):
        for s in order:
            if len(start) < len(items) and s not in start and sum(t.room == s.room for t in start) < cap:
                start.append(s)
    if len(start) < len(items) or len(all_spots) < len(items) + 2 or any(len(r.spots) < 2 for r in rooms):
        return None
    log.debug("house seed %d: %d rooms, %d doors, items %s", config.seed, n, len(doors), [i.name for i in items])
    return HouseLayout(config.seed, tuple(rooms), tuple(doors), items, tuple(start))


def _choose_items(rng: np.random.Generator, n: int) -> tuple[Item, ...]:
    """n items that look different: the first one the wearer carries (keys, wallet or phone),
    no two of the same colour (so never both red mug and red medkit), keys and ball coloured
    with what is left."""
    carry = [k for k in ITEM_KINDS if k.carryable]
    kinds = [carry[int(rng.integers(len(carry)))]]
    for idx in rng.permutation(len(ITEM_KINDS)):
        k = ITEM_KINDS[int(idx)]
        if len(kinds) < n and k not in kinds and (k.color is None or k.color not in {c.color for c in kinds}):
            kinds.append(k)
    assert len(kinds) == n, f"the catalogue has no {n} items of distinct colours"
    free = [str(c) for c in rng.permutation(MESH_COLORS) if c not in {k.color for k in kinds}]
    items = []
    for k in kinds:
        color = k.color if k.color is not None else free.pop(0)
        items.append(Item(k.name, k.mesh.format(color=color), k.carryable, k.height_m, k.plural))
    return tuple(items)
