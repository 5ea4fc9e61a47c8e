"""Typed exceptions. Each message says what went wrong and, where it can, what to do about it."""

from __future__ import annotations

__all__ = [
    "DeskUnavailable",
    "InstallError",
    "InvalidArgument",
    "InvalidConfig",
    "InvalidReport",
    "KubernetesUnavailable",
    "MinioUnavailable",
    "PeacewatchError",
    "PulsarAdminError",
    "PulsarUnavailable",
    "RecordNotAuthentic",
    "ReportTooLarge",
    "RetentionTooShort",
    "SourceTopicChanged",
    "StackError",
    "TenantNotOurs",
    "TokenError",
    "UnsafeName",
]


class PeacewatchError(Exception):
    """Base class: the CLI prints these as one line instead of a traceback."""


class InvalidReport(PeacewatchError):
    """A drone report that does not satisfy the contract. `reason` names the field and why;
    `field` is the dotted path of the first field at fault ('' when the bytes are not JSON)."""

    def __init__(self, reason: str, *, field: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


class ReportTooLarge(InvalidReport):
    """A message valid by every field rule but over the contract's bound on its bytes."""


class InvalidArgument(PeacewatchError, ValueError):
    """A value given on the command line or in a file that cannot be used (also a ValueError, so
    pydantic validators and typer callbacks may raise it)."""


class UnsafeName(InvalidArgument):
    """A name that would change the meaning of a path or URL it goes into (`..`, `/`, `#`)."""


class RecordNotAuthentic(PeacewatchError):
    """A force's recorded spec or generation that the platform did not write (platform.onboarded)."""


class InvalidConfig(PeacewatchError):
    """A configuration value (function user config, spec, setting) that cannot be used."""


class InstallError(PeacewatchError):
    """A component could not be downloaded, built or unpacked."""


class StackError(PeacewatchError):
    """A local stack process did not start, answer, or stop."""


class PulsarUnavailable(PeacewatchError):
    """Pulsar does not answer where the settings say it is."""


class KubernetesUnavailable(PeacewatchError):
    """Not inside a Kubernetes pod with a service account, or the API server refused."""


class MinioUnavailable(PeacewatchError):
    """MinIO does not answer where the settings say it is."""


class SourceTopicChanged(PeacewatchError):
    """The topic a Delta table records positions of is not the topic there now (recreated, or the
    broker's metadata was reset): its positions would silently skip new reports."""


class DeskUnavailable(PeacewatchError):
    """The alert desk cannot serve (its port is taken) or cannot read its force's alerts."""


class RetentionTooShort(PeacewatchError):
    """A vacuum retention below the floor: it could delete files a running sink has written but
    not yet committed."""


class TenantNotOurs(PeacewatchError):
    """A Pulsar tenant peacewatch did not onboard (or one of Pulsar's own): never touched."""


class TokenError(PeacewatchError):
    """A token or signing key that cannot be used (missing, expired, signed with another key)."""


class PulsarAdminError(PeacewatchError):
    """The Pulsar admin REST API answered with an error."""

    def __init__(self, *, method: str, path: str, status: int, reason: str) -> None:
        super().__init__(f"Pulsar admin {method} {path} failed ({status}): {reason}")
        self.method = method
        self.path = path
        self.status = status
        self.reason = reason
