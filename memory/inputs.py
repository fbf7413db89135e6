"""Checks of what callers pass to the store, with messages that name the argument and what is allowed."""

from __future__ import annotations

import math
import numbers

import numpy as np

from memory.errors import InvalidInputError


def finite_float(value: object, name: str) -> float:
    """`value` as a Python float; it must be a finite real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise InvalidInputError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def optional_float(value: object, name: str) -> float | None:
    """None, or `value` as a finite Python float."""
    return None if value is None else finite_float(value, name)


def whole_number(value: object, name: str, *, minimum: int) -> int:
    """`value` as a Python int >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < minimum:
        raise InvalidInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def text(value: object, name: str) -> str:
    """`value`, which must be a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{name} must be a non-empty string, got {value!r}")
    return value


def pose(value: object) -> tuple[float | None, float | None, float | None, float | None, float | None]:
    """(x, y, z, yaw_deg, pitch_deg) as finite floats, or five Nones for no pose."""
    if value is None:
        return (None, None, None, None, None)
    if not isinstance(value, (tuple, list)) or len(value) != 5:
        raise InvalidInputError(f"pose must be None or (x, y, z, yaw_deg, pitch_deg), got {value!r}")
    x, y, z, yaw, pitch = (finite_float(v, f"pose[{i}]") for i, v in enumerate(value))
    return (x, y, z, yaw, pitch)


def float_array(value: object, name: str, shape: tuple[int | None, ...]) -> np.ndarray:
    """`value` as a C-contiguous float32 array of `shape` (None: any length), all finite.

    Any real floating dtype is accepted and cast to float32; integer or object arrays are not.
    """
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.floating):
        raise InvalidInputError(f"{name} must be a float32 array, got dtype {array.dtype}")
    wanted = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
    if array.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, array.shape)):
        raise InvalidInputError(f"{name} must have shape {wanted}, got {array.shape}")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        raise InvalidInputError(f"{name} must be finite, but it holds NaN or inf")
    return array


def grid(value: object, max_cells: int) -> tuple[int, int]:
    """(grid_h, grid_w), both >= 1, with at most `max_cells` cells."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise InvalidInputError(f"grid must be (grid_h, grid_w), got {value!r}")
    gh = whole_number(value[0], "grid[0]", minimum=1)
    gw = whole_number(value[1], "grid[1]", minimum=1)
    if gh * gw > max_cells:
        raise InvalidInputError(
            f"grid {gh}x{gw} has {gh * gw} cells; at most {max_cells} are allowed (pool the patch grid)"
        )
    return gh, gw


def jpeg(data: object, faces: object) -> tuple[bytes, int]:
    """A thumbnail: (JPEG bytes, number of face regions blurred in it, >= 0)."""
    if not isinstance(data, bytes) or not data.startswith(b"\xff\xd8\xff"):
        raise InvalidInputError("thumbnail must be JPEG bytes (starting FF D8 FF)")
    return data, whole_number(faces, "thumbnail faces", minimum=0)
