"""Connections to the stack, built from Settings (one place decides URLs and credentials)."""

from __future__ import annotations

import pulsar

from peacewatch.platform.auth import TenantRole, role_token, superuser_token
from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.settings import Settings

__all__ = ["pulsar_admin", "pulsar_client", "tenant_client"]


def pulsar_client(settings: Settings, *, io_threads: int = 1, token: str | None = None) -> pulsar.Client:
    """A client as the platform (superuser token), or as whoever `token` names."""
    token = token or superuser_token(settings)
    return pulsar.Client(
        settings.pulsar.service_url,
        authentication=pulsar.AuthenticationToken(token) if token else None,
        io_threads=io_threads,
        operation_timeout_seconds=30,
        # The C++ client logs every connection at INFO; warnings are what a user needs.
        logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn),
    )


def tenant_client(settings: Settings, *, tenant: str, role: TenantRole, io_threads: int = 1) -> pulsar.Client:
    """A client holding one tenant role's token: the broker lets it do what that role may."""
    return pulsar_client(
        settings, io_threads=io_threads, token=role_token(settings, tenant=tenant, role=role)
    )


def pulsar_admin(settings: Settings) -> PulsarAdmin:
    return PulsarAdmin(web_url=settings.pulsar.web_url, token=superuser_token(settings))
