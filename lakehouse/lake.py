"""Where a tenant's Delta tables live, and how delta-rs reaches them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from peacewatch.platform.credentials import Kit, S3Credentials, read_kit_credentials
from peacewatch.platform.settings import Settings
from peacewatch.platform.topics import validate_tenant_name

__all__ = [
    "LAKE_PREFIX",
    "OLDEST_PUBLISH_KEY",
    "TABLES",
    "LakeTable",
    "S3Credentials",
    "TableName",
    "lake_table",
]

# A sink's commit records the publish time (ms) of its oldest row under this key of its commit
# info: freshness (commit time - publish time) is read from the log, never from a table scan.
OLDEST_PUBLISH_KEY = "peacewatch.oldest-publish-ms"

TableName = Literal["reports", "alerts"]
TABLES: tuple[TableName, ...] = ("reports", "alerts")
# Inside a tenant's bucket: tables under lake/; tiered storage writes its ledgers at the top.
LAKE_PREFIX = "lake"


@dataclass(frozen=True)
class LakeTable:
    tenant: str
    name: TableName
    uri: str
    storage_options: dict[str, str]


def _storage_options(settings: Settings, credentials: S3Credentials) -> dict[str, str]:
    m = settings.minio
    return {
        "AWS_ENDPOINT_URL": m.url,
        "AWS_ACCESS_KEY_ID": credentials.access_key,
        "AWS_SECRET_ACCESS_KEY": credentials.secret_key,
        "AWS_REGION": m.region,
        "AWS_ALLOW_HTTP": "true",
        # Atomic log writes on S3 without a lock service: concurrent sinks are safe.
        "aws_conditional_put": "etag",
        # Fail an attempt within seconds while MinIO is away: the sink's own backoff takes it from
        # there and a stop request is never stuck inside the object store's retries.
        "max_retries": "2",
        "retry_timeout": "10s",
        "connect_timeout": "5s",
    }


def lake_table(
    settings: Settings,
    *,
    tenant: str,
    name: TableName,
    kit: Kit = "analyst",
    credentials: S3Credentials | None = None,
) -> LakeTable:
    """s3://{bucket}/lake/{name} on MinIO as the force's `kit` identity (read-only analyst unless a
    writer asks for its own: lake for the sink, upkeep for maintenance), or as `credentials` when
    given (the platform's own steps). {lake_dir}/{tenant}/{name} when a local lake is set."""
    validate_tenant_name(tenant)
    if settings.lake_dir is not None:
        return LakeTable(tenant, name, str(settings.lake_dir / tenant / name), {})
    uri = f"s3://{settings.tenant_bucket(tenant)}/{LAKE_PREFIX}/{name}"
    creds = credentials or read_kit_credentials(settings, tenant, kit)
    return LakeTable(tenant, name, uri, _storage_options(settings, creds))
