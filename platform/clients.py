"""Connections to the stack, built from Settings (one place decides URLs and credentials)."""

from __future__ import annotations

import pulsar

from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.settings import Settings

__all__ = ["pulsar_admin", "pulsar_client"]


def pulsar_client(settings: Settings, *, io_threads: int = 1) -> pulsar.Client:
    return pulsar.Client(
        settings.pulsar.service_url,
        io_threads=io_threads,
        operation_timeout_seconds=30,
        # The C++ client logs every connection at INFO; warnings are what a user needs.
        logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn),
    )


def pulsar_admin(settings: Settings) -> PulsarAdmin:
    return PulsarAdmin(web_url=settings.pulsar.web_url)
