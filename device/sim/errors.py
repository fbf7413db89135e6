"""Errors raised by the simulator. Each message says what is wrong and how to fix it."""

from device.errors import AmiError


class SimError(AmiError, RuntimeError):
    """The simulator cannot record: a missing tool or package, or a house that cannot be built."""
