"""Connections to the stack, built from Settings (one place decides URLs and credentials).

The platform's own commands connect with its superuser token; everything a force runs
connects with one of that force's kits (platform.credentials), read from the kit's files.
"""

from __future__ import annotations

from collections.abc import Callable

import pulsar

from peacewatch.platform.auth import superuser_token
from peacewatch.platform.credentials import Kit, token_supplier
from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.settings import Settings

__all__ = ["kit_admin", "kit_client", "pulsar_admin", "pulsar_client"]


def pulsar_client(
    settings: Settings, *, io_threads: int = 1, token: str | Callable[[], str] | None = None
) -> pulsar.Client:
    """A client as the platform (superuser token), or as whoever `token` names. A callable token
    is asked again at every (re)authentication: renewed token files take effect without a restart."""
    token = token or superuser_token(settings)
    return pulsar.Client(
        settings.pulsar.service_url,
        authentication=pulsar.AuthenticationToken(token) if token else None,
        io_threads=io_threads,
        operation_timeout_seconds=30,
        # The C++ client logs every connection at INFO; warnings are what a user needs.
        logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn),
    )


def kit_client(settings: Settings, *, tenant: str, kit: Kit, io_threads: int = 1) -> pulsar.Client:
    """A client holding one of a force's kit tokens: the broker lets it do what that role may."""
    return pulsar_client(settings, io_threads=io_threads, token=token_supplier(settings, tenant, kit))


def kit_admin(settings: Settings, *, tenant: str, kit: Kit) -> PulsarAdmin:
    """The admin REST API as one of a force's kit roles (reading topic identities, deploying its function)."""
    return PulsarAdmin(web_url=settings.pulsar.web_url, token=token_supplier(settings, tenant, kit))


def pulsar_admin(settings: Settings) -> PulsarAdmin:
    return PulsarAdmin(web_url=settings.pulsar.web_url, token=superuser_token(settings))
