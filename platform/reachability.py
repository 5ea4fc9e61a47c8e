"""Is Pulsar / MinIO there? Quick checks commands run first, so a stopped stack is one clear line
("MinIO is not answering at ...: start it with `peacewatch stack up`") instead of a client that
retries for 30 s and then prints a stack trace."""

from __future__ import annotations

import sys

import httpx

from peacewatch.platform.errors import MinioUnavailable, PulsarUnavailable
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.process import port_open

__all__ = ["require", "require_unless_help"]

_HOW = "start it with `peacewatch stack up` (or point PEACEWATCH_{name}__HOST/PORT settings at yours)"


def _pulsar(settings: Settings) -> None:
    p = settings.pulsar
    if not port_open(p.host, p.broker_port, timeout_s=2.0):
        raise PulsarUnavailable(f"Pulsar is not answering at {p.service_url}: " + _HOW.format(name="PULSAR"))
    try:
        httpx.get(f"{p.web_url}/admin/v2/clusters", timeout=5.0)
    except httpx.HTTPError:
        raise PulsarUnavailable(
            f"Pulsar's admin API is not answering at {p.web_url}: " + _HOW.format(name="PULSAR")
        ) from None


def _minio(settings: Settings) -> None:
    if settings.lake_dir is not None:
        return  # a local lake: no MinIO involved
    m = settings.minio
    try:
        live = httpx.get(f"{m.url}/minio/health/live", timeout=5.0).status_code == 200
    except httpx.HTTPError:
        live = False
    if not live:
        raise MinioUnavailable(f"MinIO is not answering at {m.url}: " + _HOW.format(name="MINIO"))


def require(settings: Settings, *, pulsar: bool = False, minio: bool = False) -> None:
    """PulsarUnavailable / MinioUnavailable unless the components asked for answer."""
    if pulsar:
        _pulsar(settings)
    if minio:
        _minio(settings)


def require_unless_help(settings: Settings, *, pulsar: bool = False, minio: bool = False) -> None:
    """require(), for a command group's check: that runs before its command parses `--help`,
    and asking for help needs no stack."""
    if "--help" not in sys.argv[1:]:
        require(settings, pulsar=pulsar, minio=minio)
