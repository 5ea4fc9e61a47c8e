"""Where a tenant's Delta tables live, and how delta-rs reaches them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from peacewatch.platform.settings import Settings
from peacewatch.platform.topics import validate_tenant_name

__all__ = ["LakeTable", "TableName", "lake_table"]

TableName = Literal["reports", "alerts"]


@dataclass(frozen=True)
class LakeTable:
    tenant: str
    name: TableName
    uri: str
    storage_options: dict[str, str]


def _storage_options(settings: Settings) -> dict[str, str]:
    m = settings.minio
    return {
        "AWS_ENDPOINT_URL": m.url,
        "AWS_ACCESS_KEY_ID": m.access_key,
        "AWS_SECRET_ACCESS_KEY": m.secret_key.get_secret_value(),
        "AWS_REGION": m.region,
        "AWS_ALLOW_HTTP": "true",
        # Atomic log writes on S3 without a lock service: concurrent sinks are safe.
        "aws_conditional_put": "etag",
    }


def lake_table(settings: Settings, *, tenant: str, name: TableName) -> LakeTable:
    """s3://{lake_bucket}/{tenant}/{name} on MinIO, or {lake_dir}/{tenant}/{name} when a local
    lake directory is set (embedded mode)."""
    validate_tenant_name(tenant)
    if settings.lake_dir is not None:
        return LakeTable(tenant, name, str(settings.lake_dir / tenant / name), {})
    return LakeTable(tenant, name, f"s3://{settings.lake_bucket}/{tenant}/{name}", _storage_options(settings))
