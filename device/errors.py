"""Errors raised on the glasses side. Each message says what is wrong and how to fix it."""

from core.errors import AmiError, ModelError  # noqa: F401 (re-exported: the base, and shared with worldmodel)


class SessionError(AmiError, ValueError):
    """A session folder, frame or line that does not follow session format v1."""


class ResponsesError(AmiError, ValueError):
    """A responses.jsonl that does not follow the response format."""


class OutputError(AmiError, OSError):
    """An output that cannot be written (unwritable folder, full disk)."""


class CompanionError(AmiError, RuntimeError):
    """The companion refused a request or its pairing state is unusable (pair again to fix)."""


class CompanionUnavailable(CompanionError):
    """The companion is unreachable, too slow or failing (5xx): the device falls back and retries later."""
