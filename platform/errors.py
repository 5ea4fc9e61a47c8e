"""Typed exceptions. Each message says what went wrong and, where it can, what to do about it."""

from __future__ import annotations

__all__ = [
    "InstallError",
    "InvalidReport",
    "PeacewatchError",
    "PulsarAdminError",
    "StackError",
]


class PeacewatchError(Exception):
    """Base class: the CLI prints these as one line instead of a traceback."""


class InvalidReport(PeacewatchError):
    """A drone report that does not satisfy the contract. `reason` names the field and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InstallError(PeacewatchError):
    """A component could not be downloaded, built or unpacked."""


class StackError(PeacewatchError):
    """A local stack process did not start, answer, or stop."""


class PulsarAdminError(PeacewatchError):
    """The Pulsar admin REST API answered with an error."""

    def __init__(self, *, method: str, path: str, status: int, reason: str) -> None:
        super().__init__(f"Pulsar admin {method} {path} failed ({status}): {reason}")
        self.method = method
        self.path = path
        self.status = status
        self.reason = reason
