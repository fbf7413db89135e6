"""The house plan's parts: the sizes and textures a house is drawn from, and the frozen records of
rooms, doors, furniture, paintings, spots and items that `layout.generate_house` fills in.

Coordinates follow MiniWorld and session format v1: metres, y up, the floor at y = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

WALL_HEIGHT_M = 2.74  # MiniWorld default
DOOR_WIDTH_M = 1.2
DOOR_HEIGHT_M = 2.2
ROOM_SIZE_RANGE_M = (4.0, 6.0)
WALK_MARGIN_M = 1.0  # the wearer keeps this far from walls; furniture stays closer than this
CORNER_MARGIN_M = 0.85  # furniture and floor spots keep off corners so neighbours never overlap
DOOR_CLEAR_M = 0.6  # extra clear floor on each side of a doorway
CAMERA_HEIGHT_M = 1.5  # MiniWorld's default eye height
PAINTING_Y_M = 1.55
PAINTING_WIDTH_M = 0.75

FLOOR_TEXTURES = ("wood", "wood_planks", "floor_tiles_bw", "marble", "concrete_tiles", "asphalt")
WALL_TEXTURES = ("drywall", "stucco", "brick_wall", "concrete", "cinder_blocks", "white", "wood")
CEILING_TEXTURES = ("ceiling_tiles", "concrete_tiles")
MESH_COLORS = ("blue", "green", "purple", "red", "yellow")

# kind: (mesh or "box", height_m, width along the wall_m, depth from the wall_m, is a surface)
FURNITURE_KINDS: dict[str, tuple[str, float, float, float, bool]] = {
    "desk": ("office_desk", 0.8, 0.84, 0.42, True),
    "cabinet": ("box", 0.85, 1.0, 0.5, True),
    "chair": ("office_chair", 1.0, 0.62, 0.6, False),
    "barrel": ("barrel", 0.9, 0.62, 0.62, False),
}
PHONE_SIZE_M = (0.04, 0.28, 0.15)  # thin along x, so its face looks where the entity's dir points


@dataclass(frozen=True)
class ItemKind:
    name: str
    mesh: str  # a MiniWorld mesh name, "{color}" filled per seed, or "box" for a plain Box
    carryable: bool  # carried by the wearer day to day (left-behind alerts apply)
    height_m: float
    color: str | None  # the colour its texture shows; None for meshes coloured per seed
    plural: bool = False


ITEM_KINDS: tuple[ItemKind, ...] = (
    ItemKind("keys", "key_{color}", True, 0.25, None, plural=True),
    ItemKind("wallet", "keycard", True, 0.3, "blue"),
    ItemKind("phone", "box", True, PHONE_SIZE_M[1], "black"),
    ItemKind("mug", "potion", False, 0.35, "red"),
    ItemKind("duck", "duckie", False, 0.3, "yellow"),
    ItemKind("medkit", "medkit", False, 0.3, "red"),
    ItemKind("ball", "ball_{color}", False, 0.3, None),
)


@dataclass(frozen=True)
class HouseConfig:
    seed: int
    n_rooms: int | None = None  # None: 3 to 5, chosen per seed
    n_items: int | None = None  # None: 3 to 6, chosen per seed
    varied_looks: bool = False  # any mesh, colour and scale per item (device.sim.shift `looks`)

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"HouseConfig.seed must be a non-negative integer, got {self.seed!r}")
        if self.n_rooms is not None and self.n_rooms not in (3, 4, 5):
            raise ValueError(f"HouseConfig.n_rooms must be 3, 4, 5 or None, got {self.n_rooms!r}")
        if self.n_items is not None and self.n_items not in (3, 4, 5, 6):
            raise ValueError(f"HouseConfig.n_items must be 3 to 6 or None, got {self.n_items!r}")


@dataclass(frozen=True)
class Rect:
    min_x: float
    max_x: float
    min_z: float
    max_z: float

    def contains(self, x: float, z: float, margin: float = 0.0) -> bool:
        """Strictly inside, `margin` metres in from every wall."""
        return (self.min_x + margin < x < self.max_x - margin) and (self.min_z + margin < z < self.max_z - margin)

    def clamp(self, x: float, z: float, margin: float) -> tuple[float, float]:
        return (min(max(x, self.min_x + margin), self.max_x - margin),
                min(max(z, self.min_z + margin), self.max_z - margin))

    @property
    def centre(self) -> tuple[float, float]:
        return (self.min_x + self.max_x) / 2, (self.min_z + self.max_z) / 2


@dataclass(frozen=True)
class Door:
    """A doorway in the wall between room_a and room_b; crossing it goes along +normal from a to b."""

    room_a: int
    room_b: int
    x: float  # centre of the opening, on the wall line
    z: float
    normal: tuple[float, float]  # (dx, dz), unit, from room_a into room_b
    width_m: float = DOOR_WIDTH_M

    def other(self, room: int) -> int:
        return self.room_b if room == self.room_a else self.room_a

    def step_from(self, room: int) -> tuple[float, float]:
        """Unit (dx, dz) that leads from `room` through the doorway."""
        s = 1.0 if room == self.room_a else -1.0
        return s * self.normal[0], s * self.normal[1]


@dataclass(frozen=True)
class Furniture:
    kind: str
    mesh: str
    x: float
    z: float
    dir: float  # radians, MiniWorld's entity dir
    height_m: float
    surface: bool  # items can be put on its top


@dataclass(frozen=True)
class Painting:
    texture: str  # file name under miniworld/textures/portraits
    x: float
    y: float
    z: float
    dir: float  # the picture faces (cos dir, 0, -sin dir): into the room
    width_m: float


@dataclass(frozen=True)
class Spot:
    """A place an item can rest: on the floor by a wall or on a surface's top."""

    room: int
    x: float
    y: float
    z: float
    on: str  # "floor" or the furniture kind
    facing: tuple[float, float]  # unit (dx, dz) from the spot towards where a wearer stands


@dataclass(frozen=True)
class Room:
    id: int
    rect: Rect
    floor: str
    wall: str
    ceiling: str
    furniture: tuple[Furniture, ...]
    paintings: tuple[Painting, ...]
    spots: tuple[Spot, ...]


@dataclass(frozen=True)
class Item:
    name: str
    mesh: str
    carryable: bool
    height_m: float
    plural: bool
    rgb: tuple[float, float, float] | None = None  # a "box" item's colour (None: the phone's black)
    size_m: tuple[float, float, float] | None = None  # a "box" item's size (None: PHONE_SIZE_M)

    @property
    def look(self) -> str:
        """What it looks like, as training keys objects: the mesh, or a box's colour and size."""
        if self.mesh != "box" or self.rgb is None:
            return self.mesh
        return "box-" + "".join(f"{round(255 * v):02x}" for v in self.rgb) + "-" + "x".join(map(str, self.size_m or ()))


@dataclass(frozen=True)
class HouseLayout:
    seed: int
    rooms: tuple[Room, ...]
    doors: tuple[Door, ...]
    items: tuple[Item, ...]
    start_spots: tuple[Spot, ...]  # where each item rests at t = 0, in the order of `items`

    def room_at(self, x: float, z: float) -> int | None:
        """The id of the room strictly containing (x, z); None on a wall or outside."""
        for r in self.rooms:
            if r.rect.contains(x, z):
                return r.id
        return None

    def route(self, a: int, b: int) -> list[Door]:
        """The doors crossed on a shortest path of rooms from a to b (breadth first, deterministic)."""
        prev: dict[int, tuple[int, Door] | None] = {a: None}
        queue = [a]
        while queue:
            r = queue.pop(0)
            if r == b:
                break
            for d in self.doors:
                if r in (d.room_a, d.room_b) and d.other(r) not in prev:
                    prev[d.other(r)] = (r, d)
                    queue.append(d.other(r))
        assert b in prev, f"room {b} is not reachable from room {a}: the door graph must be connected"
        path: list[Door] = []
        node = b
        while (step := prev[node]) is not None:
            node, door = step
            path.append(door)
        return path[::-1]
