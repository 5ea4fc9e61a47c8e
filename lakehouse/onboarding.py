"""The lake's onboarding steps: a force's MinIO bucket, its users with their policies (one per
MinIO kit), and its Delta tables."""

from __future__ import annotations

from enum import StrEnum
from functools import partial
from typing import Any

from deltalake import DeltaTable
from pydantic import BaseModel

from peacewatch.lakehouse.access import LakeAccess, minio_user
from peacewatch.lakehouse.arrow_schema import arrow_schema
from peacewatch.lakehouse.lake import TABLES, lake_table
from peacewatch.lakehouse.upkeep import open_table
from peacewatch.platform.contract import Alert, Report
from peacewatch.platform.credentials import MINIO_KITS
from peacewatch.platform.settings import Settings
from peacewatch.platform.steps import Exactly, Step, StepKey

__all__ = ["LakeResource", "minio_steps", "table_steps"]

_MAY = {"lake": "read/write", "analyst": "read", "upkeep": "read/write/delete"}
_MODELS: dict[str, type[BaseModel]] = {"reports": Report, "alerts": Alert}


class LakeResource(StrEnum):
    BUCKET = "MinIO bucket"
    POLICY = "MinIO policy"  # name: the kit
    USER = "MinIO user"  # name: the kit
    TABLE = "Delta table"  # name: the table


def _policy_statements(policy: dict[str, Any] | None) -> Exactly | None:
    if policy is None:
        return None
    statements = sorted(
        (
            s.get("Effect", "Allow"),
            tuple(sorted(_as_list(s.get("Action")))),
            tuple(sorted(_as_list(s.get("Resource")))),
        )
        for s in policy.get("Statement", [])
    )
    return Exactly(statements)


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def minio_steps(settings: Settings, lake: LakeAccess, *, tenant: str) -> list[Step]:
    """The bucket (lake + offloaded ledgers); per MinIO kit a policy for it alone and a user."""
    bucket = settings.tenant_bucket(tenant)
    steps = [
        Step(StepKey(LakeResource.BUCKET), f"MinIO bucket {bucket}", lake.bucket_exists(tenant), True,
             lambda: lake.create_bucket(tenant))
    ]  # fmt: skip
    for kit in MINIO_KITS:
        user = minio_user(tenant, kit)
        steps.append(Step(
            StepKey(LakeResource.POLICY, kit), f"MinIO policy {user} ({_MAY[kit]} {bucket})",
            _policy_statements(lake.policy(tenant, kit)), _policy_statements(lake.wanted_policy(tenant, kit)),
            partial(lake.put_policy, tenant, kit),
        ))  # fmt: skip
        steps.append(Step(
            StepKey(LakeResource.USER, kit), f"MinIO user {user}, its keys in the {kit} kit",
            {"policy": lake.user_policy(tenant, kit), "credentials": lake.has_credentials(tenant, kit)},
            {"policy": user, "credentials": True},
            partial(lake.put_user, tenant, kit),
        ))  # fmt: skip
    return steps


def table_steps(settings: Settings, lake: LakeAccess, *, tenant: str) -> list[Step]:
    """The force's Delta tables, created empty with the contract's schema (after its bucket)."""
    bucket_there = lake.bucket_exists(tenant)
    steps = []
    for table_name in TABLES:
        where = lake_table(settings, tenant=tenant, name=table_name, credentials=lake.root)
        there = bucket_there and open_table(where) is not None
        steps.append(Step(
            StepKey(LakeResource.TABLE, table_name), f"Delta table {where.uri}", there, True,
            partial(DeltaTable.create, where.uri, schema=arrow_schema(_MODELS[table_name]),
                    partition_by=["date"], mode="ignore", storage_options=where.storage_options),
        ))  # fmt: skip
    return steps
