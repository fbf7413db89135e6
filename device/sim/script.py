"""The scripted wearer's records and pace: how fast the wearer walks and turns, how an item is
carried, and the frozen per-frame states, events and speech that `wearer.plan_session` fills in.

Angles follow MiniWorld and session format v1: yaw in radians with forward = (cos yaw, 0,
-sin yaw); pitch in degrees, negative looks down.
"""

from __future__ import annotations

from dataclasses import dataclass

from device.sim.plan import CAMERA_HEIGHT_M

WALK_SPEED_MPS = 1.0
TURN_SPEED_DPS = 90.0
PITCH_SPEED_DPS = 60.0
WALK_PITCH_DEG = -10.0  # eyes a little down while walking
LOOK_AROUND_PITCH_DEG = -15.0
STAND_DISTANCE_M = 1.2  # from an item the wearer enrolls, picks up or puts down
CARRY_AHEAD_M = 0.6  # closer than MiniWorld's _get_carry_pos, so a carried item never pokes into walls
CARRY_BELOW_EYE_M = 0.3  # the carried item's top is this far below the eye, as in _get_carry_pos
HIDDEN_Y_M = -50.0  # an item out of every view (a pocket; a bare render) is drawn this far down
HAND_MOVE_S = 0.6  # an item moves between rest and hand in this long
LOOK_HOLD_S = 2.0  # holding the view on an item while naming it
FULL_CHORES_UNTIL_S = 140.0  # no new chore after this; each must also fit before FULL_MAX_S
FULL_MAX_S = 180.0
FULL_DETOUR_UNTIL_S = 115.0  # after a chore, maybe walk on and ask about it, until here
TURN_ALLOWANCE_S = 0.8  # per waypoint, when estimating a walk's duration
CHORE_EXTRA_S = 8.0  # looking down, picking up, putting down, holding the view
WRAP_UP_S = 16.0  # leaving the last room and asking the last questions
NEVER_SEEN = ("passport", "umbrella", "headphones")


@dataclass(frozen=True)
class WearerConfig:
    fps: float = 10.0
    short: bool = False  # ~30-45 s, one enroll, one carry, one left-behind, two queries
    carry_ahead_m: float = CARRY_AHEAD_M  # where a carried item is held (device.sim.shift varies it)
    carry_below_eye_m: float = CARRY_BELOW_EYE_M
    carry_hidden: bool = False  # a carried item is out of view (pocket, bag): drawn nowhere
    eye_height_m: float = CAMERA_HEIGHT_M  # the camera's height (device.sim.shift varies it)

    def __post_init__(self) -> None:
        if not (isinstance(self.fps, (int, float)) and 1.0 <= self.fps <= 60.0):
            raise ValueError(f"WearerConfig.fps must be between 1 and 60, got {self.fps!r}")
        if not (0.2 <= self.carry_ahead_m <= 1.5 and 0.0 <= self.carry_below_eye_m <= 1.2):
            raise ValueError(f"WearerConfig carry pose must be 0.2-1.5 m ahead and 0-1.2 m below the eye, got "
                             f"{self.carry_ahead_m!r}, {self.carry_below_eye_m!r}")
        if not 0.5 <= self.eye_height_m <= 2.5:
            raise ValueError(f"WearerConfig.eye_height_m must be 0.5-2.5 m, got {self.eye_height_m!r}")


@dataclass(frozen=True)
class ItemPose:
    x: float
    y: float  # the item's base (floor or surface top)
    z: float
    dir: float  # radians, MiniWorld entity dir


@dataclass(frozen=True)
class FrameState:
    x: float  # the wearer's (camera's) floor position
    z: float
    yaw: float  # radians, unwrapped
    pitch_deg: float
    carrying: str | None
    items: tuple[ItemPose, ...]  # in the order of layout.items


@dataclass(frozen=True)
class Event:
    t: float
    type: str  # "enroll" | "pickup" | "putdown" | "left_behind" | "query"
    item: str
    room: int | None  # the room holding the item's position; None on a wall or when not in the house
    position: tuple[float, float, float] | None  # the item's base; None when not in the house
    put_t: float | None = None  # left_behind only: when it was put down


@dataclass(frozen=True)
class Speech:
    t: float  # when the wearer starts speaking
    text: str
    item: str
    kind: str  # "enroll" | "query"


@dataclass(frozen=True)
class WearerPlan:
    fps: float
    frames: tuple[FrameState, ...]
    events: tuple[Event, ...]
    speech: tuple[Speech, ...]

    @property
    def duration_s(self) -> float:
        return len(self.frames) / self.fps
