"""Onboard a police force from its TenantSpec: Pulsar tenant, namespace policies, topics, schemas,
permissions, its alert function, its MinIO bucket/user/policy and its Delta tables.

Every piece is a Step that knows what is there now and what the spec wants; `plan` lists the
steps that differ, `apply` carries out only those (so a second apply changes nothing).
What the spec wants is computed by pure functions (`namespace_policies`, `topic_permissions`),
unit-tested apart from the broker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from deltalake import DeltaTable
from pydantic import BaseModel
from rich.console import Console

from peacewatch.functions.alert_deploy import ALERT_FUNCTION_NAME, deploy_alerting
from peacewatch.functions.decision import AlertConfig
from peacewatch.lakehouse.arrow_schema import arrow_schema
from peacewatch.lakehouse.lake import TABLES, lake_table
from peacewatch.lakehouse.upkeep import open_table
from peacewatch.platform.contract import Alert, Report
from peacewatch.platform.errors import PeacewatchError, PulsarAdminError
from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.settings import Settings
from peacewatch.platform.topic_identity import TOPIC_ID_PROPERTY
from peacewatch.platform.topics import LAKE_SUBSCRIPTION, NAMESPACE, TenantTopics
from peacewatch.tenants.lake_access import LakeAccess, lake_user
from peacewatch.tenants.provisioning import provision_topics
from peacewatch.tenants.spec import TenantSpec, spec_from_json

__all__ = [
    "SPEC_PROPERTY",
    "Step",
    "applied_spec",
    "apply_steps",
    "held_data",
    "namespace_policies",
    "plan_steps",
    "remove_tenant",
    "same",
    "topic_permissions",
]

SPEC_PROPERTY = "peacewatch.spec"
_MB = 1024 * 1024


def same(current: Any, wanted: Any) -> bool:
    """Does what is there satisfy what is wanted? Mappings: every wanted key matches (the broker
    adds fields of its own); lists compare as sets (order is not meaningful in roles or actions)."""
    if isinstance(wanted, dict):
        return isinstance(current, dict) and all(same(current.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(current, list) and sorted(map(str, current)) == sorted(map(str, wanted))
    return bool(current == wanted)


@dataclass(frozen=True)
class Step:
    what: str
    current: Any
    wanted: Any
    apply: Callable[[], object]

    @property
    def needed(self) -> bool:
        return not same(self.current, self.wanted)


def namespace_policies(spec: TenantSpec, settings: Settings) -> dict[str, Any]:
    """Namespace policy name (admin REST path) -> the value the spec wants. Pure."""
    offload_bytes = spec.offload.threshold_mb * _MB if spec.offload.threshold_mb >= 0 else -1
    return {
        "retention": {
            "retentionTimeInMinutes": spec.retention.minutes,
            "retentionSizeInMB": spec.retention.size_mb,
        },
        # No TTL and no backlog quota (see TenantSpec): 0 / none clear what older releases set.
        "messageTTL": 0,
        "deduplication": True,
        "schemaCompatibilityStrategy": spec.schema_compatibility,
        "isAllowAutoUpdateSchema": False,
        "backlogQuotaMap": {"destination_storage": None},
        "offloadPolicies": {
            # The generic S3 API: jclouds' aws-s3 provider asks s3.amazonaws.com for bucket locations
            # whatever the endpoint, which MinIO (or any on-premises S3) never sees.
            # It reads the generic keys; the s3* ones are what older brokers and tools show.
            "managedLedgerOffloadDriver": "S3",
            "managedLedgerOffloadBucket": settings.tenant_bucket(spec.name),
            "managedLedgerOffloadRegion": settings.minio.region,
            "managedLedgerOffloadServiceEndpoint": settings.minio.url,
            "s3ManagedLedgerOffloadBucket": settings.tenant_bucket(spec.name),
            "s3ManagedLedgerOffloadRegion": settings.minio.region,
            "s3ManagedLedgerOffloadServiceEndpoint": settings.minio.url,
            "managedLedgerOffloadThresholdInBytes": offload_bytes,
            "managedLedgerOffloadDeletionLagInMillis": spec.offload.deletion_lag_minutes * 60_000,
        },
        "offloadThreshold": offload_bytes,
    }


def topic_permissions(spec: TenantSpec) -> dict[str, dict[str, list[str]]]:
    """Topic -> role -> actions. Drones only produce reports; officers only follow alerts and
    the alert log; the sink reads reports and alerts and dead-letters; analysts get no topic. Pure."""
    t = TenantTopics(spec.name)
    return {
        t.reports: {spec.role("fleet"): ["produce"], spec.role("lake"): ["consume"]},
        t.alerts: {spec.role("officer"): ["consume"], spec.role("lake"): ["consume"]},
        t.alert_log: {spec.role("officer"): ["consume"]},
        t.dlq: {spec.role("lake"): ["produce"]},
    }


def _set_policy(admin: PulsarAdmin, namespace: str, name: str, value: Any) -> Callable[[], None]:
    if name == "backlogQuotaMap":
        return lambda: admin.remove_namespace_policy(
            namespace, "backlogQuota", params={"backlogQuotaType": "destination_storage"}
        )
    method = "PUT" if name in ("schemaCompatibilityStrategy", "offloadThreshold") else "POST"
    return lambda: admin.set_namespace_policy(namespace, name, value, method=method)


def applied_spec(admin: PulsarAdmin, tenant: str) -> TenantSpec | None:
    """The spec last applied to this tenant (kept as a namespace property), if any."""
    try:
        props = admin.get_namespace_policy_or_none(f"{tenant}/{NAMESPACE}", "properties") or {}
    except PeacewatchError:
        return None
    text = props.get(SPEC_PROPERTY)
    return spec_from_json(text) if text else None


def plan_steps(
    settings: Settings,
    admin: PulsarAdmin,
    lake: LakeAccess,
    spec: TenantSpec,
    *,
    console: Console | None = None,
    with_function: bool = True,
) -> list[Step]:
    """Every step of onboarding `spec`, each with what is there now. Reads only; changes nothing.
    `with_function=False` leaves the alert function out (tests of other parts skip its ~10 s deploy)."""
    tenant = spec.name
    ns = f"{tenant}/{NAMESPACE}"
    topics = TenantTopics(tenant)
    steps: list[Step] = []
    clusters = admin.clusters()
    info = admin.get_tenant(tenant)
    wanted_tenant = {"adminRoles": spec.admin_roles, "allowedClusters": clusters}
    steps.append(Step(
        f"tenant {tenant} (admin roles {spec.admin_roles or '-'})", info, wanted_tenant,
        (lambda: admin.create_tenant(tenant, admin_roles=spec.admin_roles, clusters=clusters)) if info is None
        else (lambda: admin.update_tenant(tenant, admin_roles=spec.admin_roles, clusters=clusters)),
    ))  # fmt: skip
    ns_exists = info is not None and ns in admin.namespaces(tenant)
    reports_partitions = admin.partitions(topics.reports) if ns_exists else 0
    identities = ns_exists and all(_has_identity(admin, t) for t in (topics.reports, topics.alerts))
    lake_subscribed = ns_exists and all(_subscribed(admin, t) for t in (topics.reports, topics.alerts))
    # Namespace, topics, identities and schemas: the foundation's provisioning, itself idempotent.
    steps.append(Step(
        f"namespace {ns}, topics (reports x{spec.partitions}) with identities, contract schemas",
        {"namespace": ns_exists, "partitions": reports_partitions, "identities": identities,
         "lake subscription": lake_subscribed},
        {"namespace": True, "partitions": spec.partitions, "identities": True, "lake subscription": True},
        lambda: _provision(admin, spec, current_partitions=reports_partitions),
    ))  # fmt: skip
    for name, value in namespace_policies(spec, settings).items():
        current = admin.get_namespace_policy_or_none(ns, name) if ns_exists else None
        steps.append(Step(f"{name} on {ns}", current, value, _set_policy(admin, ns, name, value)))
    for topic, grants in topic_permissions(spec).items():
        current_grants = admin.topic_permissions(topic) if ns_exists else {}
        for role, actions in grants.items():
            steps.append(Step(
                f"{role} may {'/'.join(actions)} {TenantTopics.local_name(topic)}",
                current_grants.get(role), actions,
                partial(admin.grant_topic_permission, topic, role=role, actions=actions),
            ))  # fmt: skip

    # MinIO: the bucket (lake + offloaded ledgers), a policy for it alone, a user holding it.
    bucket = settings.tenant_bucket(tenant)
    steps.append(
        Step(f"MinIO bucket {bucket}", lake.bucket_exists(tenant), True, lambda: lake.create_bucket(tenant))
    )
    steps.append(Step(
        f"MinIO policy {lake_user(tenant)} (only {bucket})", lake.policy(tenant) is not None, True,
        lambda: lake.put_policy(tenant),
    ))  # fmt: skip
    steps.append(Step(
        f"MinIO user {lake_user(tenant)} with its credentials",
        {"policy": lake.user_policy(tenant), "credentials": lake.has_credentials(tenant)},
        {"policy": lake_user(tenant), "credentials": True},
        lambda: lake.put_user(tenant),
    ))  # fmt: skip
    bucket_there = lake.bucket_exists(tenant)
    models: dict[str, type[BaseModel]] = {"reports": Report, "alerts": Alert}
    for table_name in TABLES:
        where = lake_table(settings, tenant=tenant, name=table_name)
        model = models[table_name]
        there = bucket_there and open_table(where) is not None
        steps.append(Step(
            f"Delta table {where.uri}", there, True,
            partial(DeltaTable.create, where.uri, schema=arrow_schema(model), partition_by=["date"],
                    mode="ignore", storage_options=where.storage_options),
        ))  # fmt: skip

    # The alert function, deployed last: its inputs, outputs and permissions exist by then.
    if with_function:
        steps.append(_function_step(settings, admin, spec, ns_exists=ns_exists, console=console))
    current_props = admin.get_namespace_policy_or_none(ns, "properties") if ns_exists else None
    wanted_props = {SPEC_PROPERTY: spec.model_dump_json()}
    steps.append(Step(
        "spec recorded on the namespace", current_props, wanted_props,
        lambda: admin.set_namespace_policy(ns, "properties", wanted_props, method="PUT"),
    ))  # fmt: skip
    return steps


def _has_identity(admin: PulsarAdmin, topic: str) -> bool:
    try:
        return TOPIC_ID_PROPERTY in admin.topic_properties(topic)
    except PulsarAdminError as exc:
        if exc.status == 404:
            return False
        raise


def _subscribed(admin: PulsarAdmin, topic: str) -> bool:
    try:
        return LAKE_SUBSCRIPTION in admin.subscriptions(topic)
    except PulsarAdminError as exc:
        if exc.status == 404:
            return False
        raise


def _function_step(
    settings: Settings, admin: PulsarAdmin, spec: TenantSpec, *, ns_exists: bool, console: Console | None
) -> Step:
    tenant = spec.name
    fn = admin.get_function(tenant, NAMESPACE, ALERT_FUNCTION_NAME) if ns_exists else None
    a = spec.alerting
    current_fn = None if fn is None else {
        "userConfig": fn.get("userConfig"), "parallelism": fn.get("parallelism"),
        "retainOrdering": fn.get("retainOrdering"), "logTopic": fn.get("logTopic"),
    }  # fmt: skip
    reports = TenantTopics(tenant).reports
    # The function keys its dead letters by the reports topic's identity: a recreated topic
    # means a redeploy (unknown before the topic exists: the function is deployed then anyway).
    identity = (
        admin.topic_properties(reports).get(TOPIC_ID_PROPERTY)
        if ns_exists and _has_identity(admin, reports)
        else None
    )
    wanted_fn = {
        "userConfig": AlertConfig(
            threshold=a.threshold, cooldown_s=a.cooldown_s, source_id=identity
        ).user_config(),
        "parallelism": a.parallelism,
        "retainOrdering": True,
        "logTopic": None,
    }
    return Step(
        f"alert function (threshold {a.threshold}, cooldown {a.cooldown_s:g}s, parallelism {a.parallelism})",
        current_fn, wanted_fn,
        lambda: deploy_alerting(settings, admin, tenant=tenant, parallelism=a.parallelism, console=console,
                                config=AlertConfig(threshold=a.threshold, cooldown_s=a.cooldown_s)),
    )  # fmt: skip


def _provision(admin: PulsarAdmin, spec: TenantSpec, *, current_partitions: int) -> None:
    if current_partitions > spec.partitions:
        raise PeacewatchError(
            f"{spec.name}: the reports topic has {current_partitions} partitions and Pulsar cannot reduce "
            f"them; set partitions: {current_partitions} (or more) in the spec"
        )
    if 0 < current_partitions < spec.partitions:
        admin.set_topic_partitions(TenantTopics(spec.name).reports, partitions=spec.partitions)
    provision_topics(admin, tenant=spec.name, partitions=spec.partitions)


def apply_steps(steps: list[Step], *, on_step: Callable[[Step], None] = lambda _s: None) -> list[Step]:
    """Carry out the steps that are needed, in order; returns them."""
    done = []
    for step in steps:
        if step.needed:
            step.apply()
            on_step(step)
            done.append(step)
    return done


def held_data(settings: Settings, admin: PulsarAdmin, lake: LakeAccess, *, tenant: str) -> dict[str, int]:
    """What a tenant still holds: bytes in its topics, rows in its Delta tables, and other objects in
    its bucket (offloaded ledgers). An onboarded but unused force holds nothing."""
    stored = 0
    if admin.get_tenant(tenant) is not None and f"{tenant}/{NAMESPACE}" in admin.namespaces(tenant):
        for topic in admin.topics(f"{tenant}/{NAMESPACE}"):
            stored += int(admin.topic_stats(topic).get("storageSize", 0))
    rows = 0
    if lake.bucket_exists(tenant):
        for name in TABLES:
            table = open_table(lake_table(settings, tenant=tenant, name=name))
            rows += table.count() if table is not None else 0
    return {
        "topic_bytes": stored,
        "lake_rows": rows,
        "other_objects": lake.object_count(tenant, outside="lake/"),
    }


def remove_tenant(
    settings: Settings, admin: PulsarAdmin, lake: LakeAccess, *, tenant: str, purge: bool
) -> list[str]:
    """Take a force off the platform. Without `purge`, refuses while it still holds any data."""
    held = held_data(settings, admin, lake, tenant=tenant)
    if not purge and any(held.values()):
        raise PeacewatchError(
            f"tenant {tenant!r} still holds data ({held['topic_bytes']:,} bytes in its topics, "
            f"{held['lake_rows']:,} rows in its lake, {held['other_objects']:,} offloaded objects): "
            "nothing removed; re-run with --purge to delete it for good"
        )
    done = []
    if admin.get_tenant(tenant) is not None:
        if admin.delete_function(tenant, NAMESPACE, ALERT_FUNCTION_NAME):
            done.append(f"alert function of {tenant}")
        admin.delete_tenant(tenant, force=True)
        done.append(f"Pulsar tenant {tenant} with its namespace and topics")
    # Holding no data, its bucket only has empty tables left: it goes too.
    done.extend(lake.remove(tenant))
    return done
