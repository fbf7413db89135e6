"""Errors raised by the companion server. Each message says what is wrong and how to fix it.

`RequestRejected` carries the HTTP status the server answers with; its message is the response's
"detail" and never contains a secret.
"""

from __future__ import annotations

from core.errors import AmiError


class CompanionServerError(AmiError, RuntimeError):
    """Base class: `ami companion serve` turns these into a one-line message and a non-zero exit."""


class StateError(CompanionServerError, OSError):
    """The state folder (paired devices) cannot be read or written, or is corrupt."""


class RequestRejected(CompanionServerError):
    """A request the server refuses: unauthenticated (401), too large (413), too fast (429)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
