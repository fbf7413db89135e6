"""Domain shifts for `ami record-sim --shift AXIS[=LEVEL]`: what a real home varies, one axis at a time.

Each axis is deterministic per seed and testable alone; `random` draws a level of every axis from
the seed. The house (rooms, furniture, the wearer's script) stays the seed's; only the axis changes.

- `looks`: each item gets a mesh and colour drawn from MiniWorld's whole catalogue, colours may
  repeat (a red mug beside a red wallet), and a scale of 0.7 to 1.4 of its height; the default
  recorder gives each kind one look and never two items one colour.
- `carry=ahead|low|hidden`: how a carried item is held. `ahead`: floating ahead of the body, low in
  the view (MiniWorld's own carry, as other generators do); `low`: low in the hand, at the bottom
  of the view; `hidden`: out of view (a pocket or a bag), never seen between pick-up and put-down.
  The default recorder holds it 0.6 m ahead, 0.3 m below the eye.
- `camera[=VFOV@EYE]`: another headset's camera: a vertical field of view of 50 to 90 degrees and an eye height
  of 1.4 to 1.8 m, drawn from the seed (the default recorder: MiniWorld's 60 degrees at 1.5 m). Both
  reach the assistant only as a real headset gives them: `hfov_deg` in session.json, y in the poses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CARRY_LEVELS = ("ahead", "low", "hidden")
AXES = ("looks", "carry", "camera")
# (metres ahead of the camera, metres from the eye down to the item's top) per carry level
CARRY_POSES_M = {"default": (0.6, 0.3), "ahead": (1.0, 0.75), "low": (0.4, 0.85)}
LOOK_SCALE = (0.7, 1.4)  # an item's height times this, under `looks`
CAMERA_VFOV_DEG = (50.0, 90.0)  # under `camera`: the vertical field of view ...
CAMERA_EYE_M = (1.4, 1.8)  # ... and the eye height, each drawn uniformly
DEFAULT_CAMERA = (60.0, 1.5)  # MiniWorld's (vertical fov in degrees, eye height in metres)


@dataclass(frozen=True)
class Shift:
    """The resolved shift of one recording: no field set is the default recorder."""

    looks: bool = False
    carry: str = "default"  # "default" or one of CARRY_LEVELS
    camera: tuple[float, float] = DEFAULT_CAMERA  # (vertical fov degrees, eye height metres)

    def __post_init__(self) -> None:
        if self.carry not in ("default",) + CARRY_LEVELS:
            raise ValueError(f"Shift.carry must be one of {CARRY_LEVELS}, got {self.carry!r}")
        vfov, eye = self.camera
        if not (10.0 <= vfov <= 120.0 and 0.5 <= eye <= 2.5):
            raise ValueError(f"Shift.camera must be (10-120 degrees, 0.5-2.5 m), got {self.camera!r}")

    @property
    def carry_hidden(self) -> bool:
        return self.carry == "hidden"

    def carry_pose_m(self) -> tuple[float, float]:
        """(ahead, below the eye) metres of a carried item; a hidden one is not drawn at all."""
        return CARRY_POSES_M["default" if self.carry == "hidden" else self.carry]

    def names(self) -> list[str]:
        """The axes as `--shift` spells them, for session.json and the benchmark tables."""
        out = ["looks"] if self.looks else []
        out += [f"carry={self.carry}"] if self.carry != "default" else []
        return out + ([f"camera={self.camera[0]:g}@{self.camera[1]:g}"] if self.camera != DEFAULT_CAMERA else [])


def parse_shift(specs: tuple[str, ...] | list[str], seed: int) -> Shift:
    """`--shift` values (AXIS, AXIS=LEVEL or random) -> a Shift; a bad one is a ValueError naming it."""
    rng = np.random.default_rng([seed, 3])  # only `random` and unlevelled axes draw from it
    looks, carry, camera = False, "default", DEFAULT_CAMERA
    for spec in specs:
        axis, _, level = spec.partition("=")
        if axis == "random" and not level:
            looks, carry = True, CARRY_LEVELS[int(rng.integers(len(CARRY_LEVELS)))]
            camera = _camera(rng)
        elif axis == "looks" and not level:
            looks = True
        elif axis == "camera":
            camera = _camera_level(spec, level) if level else _camera(rng)
        elif axis == "carry":
            carry = level or CARRY_LEVELS[int(rng.integers(len(CARRY_LEVELS)))]
            if carry not in CARRY_LEVELS:
                raise ValueError(f"--shift {spec}: carry takes one of {', '.join(CARRY_LEVELS)}")
        else:
            raise ValueError(f"--shift {spec}: unknown axis; use one of looks, carry=ahead|low|hidden, "
                             "camera[=VFOV@EYE], random")
    return Shift(looks, carry, camera)


def _camera_level(spec: str, level: str) -> tuple[float, float]:
    """`camera=VFOV@EYE` (degrees, metres) -> (vfov, eye), checked."""
    try:
        vfov, eye = (float(v) for v in level.split("@"))
        return Shift(camera=(vfov, eye)).camera
    except ValueError:
        raise ValueError(f"--shift {spec}: camera takes VFOV@EYE, a vertical field of view of 10-120 degrees "
                         f"and an eye height of 0.5-2.5 m, e.g. camera=75@1.65") from None


def _camera(rng: np.random.Generator) -> tuple[float, float]:
    """A headset camera under `camera`: (vertical fov degrees, eye height metres), rounded as a spec
    sheet would give them."""
    return round(float(rng.uniform(*CAMERA_VFOV_DEG)), 1), round(float(rng.uniform(*CAMERA_EYE_M)), 2)


def varied_look(rng: np.random.Generator, meshes: tuple[str, ...], colors: tuple[str, ...],
                height_m: float) -> dict[str, object]:
    """The look of one item under `looks`, as Item fields: any mesh of the catalogue ("{color}" filled
    with any colour, grey included, repeats allowed) with its height scaled by LOOK_SCALE, or a plain
    box (a case, a slab, a block) of any colour and proportions."""
    mesh = meshes[int(rng.integers(len(meshes)))]
    if mesh != "box":
        color = (colors + ("grey",))[int(rng.integers(len(colors) + 1))]
        return {"mesh": mesh.format(color=color), "height_m": round(height_m * float(rng.uniform(*LOOK_SCALE)), 3)}
    rgb = tuple(round(float(v), 2) for v in rng.uniform(0.05, 0.95, 3))
    size = (round(float(rng.uniform(0.03, 0.12)), 3), round(float(rng.uniform(0.12, 0.3)), 3),
            round(float(rng.uniform(0.08, 0.22)), 3))  # thin along x, like the phone: a case or a slab
    return {"mesh": "box", "height_m": size[1], "rgb": rgb, "size_m": size}
