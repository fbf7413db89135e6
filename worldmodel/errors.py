"""Errors raised by the model code. Each message says what is wrong and how to fix it."""

from core.errors import AmiError


class WorldModelError(AmiError):
    """Base class for worldmodel errors; device code wraps them into its own (e.g. ModelError)."""


class CheckpointError(WorldModelError, ValueError):
    """A checkpoint file that is missing, corrupt, or from another model layout or version."""
