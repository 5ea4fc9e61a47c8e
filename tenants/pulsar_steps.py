"""The force's Pulsar tenant as onboarding steps: the tenant, its namespace and topics (with
identities, schemas and the lake's subscription), the namespace policies, each topic's grants,
and the spec recorded on the namespace.

What the spec wants is computed by pure functions (`namespace_policies`, `topic_permissions`),
unit-tested apart from the broker.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import partial
from typing import Any

from peacewatch.platform.auth import role_name
from peacewatch.platform.errors import PeacewatchError, PulsarAdminError
from peacewatch.platform.onboarded import GENERATION_PROPERTY, MAC_PROPERTY, SPEC_PROPERTY, record_mac
from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.settings import Settings
from peacewatch.platform.steps import Exactly, Step, StepKey
from peacewatch.platform.topic_identity import recorded_identity
from peacewatch.platform.topics import LAKE_SUBSCRIPTION, NAMESPACE, TenantTopics
from peacewatch.tenants.provisioning import provision_topics
from peacewatch.tenants.spec import RoleKind, TenantSpec

__all__ = [
    "PulsarResource",
    "namespace_permissions",
    "namespace_policies",
    "pulsar_steps",
    "set_topic_grants",
    "spec_record_step",
    "topic_permissions",
]

_MB = 1024 * 1024


class PulsarResource(StrEnum):
    TENANT = "tenant"
    NAMESPACE = "namespace"  # with its topics, their identities, schemas and the lake's subscription
    POLICY = "namespace policy"  # name: the policy
    TOPIC_GRANTS = "topic grants"  # name: the topic
    NAMESPACE_GRANTS = "namespace grants"
    SPEC = "spec record"


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
        # The broker deletes topics without subscriptions after a minute idle (standalone's and the
        # chart's default): the DLQ and the alert log would vanish, taking their per-topic grants
        # with them, until a producer recreated them.
        "inactiveTopicPolicies": {
            "inactiveTopicDeleteMode": "delete_when_no_subscriptions",
            "maxInactiveDurationSeconds": 60,
            "deleteWhileInactive": False,
        },
    }


def topic_permissions(spec: TenantSpec, generation: str) -> dict[str, dict[str, list[str]]]:
    """Topic -> role -> actions, exactly (any other role is revoked). Drones only produce reports;
    officers only follow alerts and the alert log; the sink reads reports and alerts and
    dead-letters; the alert function reads reports and writes alerts, the alert log and dead
    letters; analysts get no topic (they read the lake). Pure."""
    t = TenantTopics(spec.name)

    def r(kind: RoleKind) -> str:
        return role_name(spec.role(kind), generation)

    return {
        t.reports: {r("fleet"): ["produce"], r("lake"): ["consume"], r("alerting"): ["consume"]},
        t.alerts: {r("officer"): ["consume"], r("lake"): ["consume"], r("alerting"): ["produce"]},
        t.alert_log: {r("officer"): ["consume"], r("alerting"): ["produce"]},
        t.dlq: {r("lake"): ["produce"], r("alerting"): ["produce"]},
    }


def namespace_permissions(spec: TenantSpec, generation: str) -> dict[str, list[str]]:
    """Role -> namespace actions: the alerting role may run functions there (its own). Pure."""
    return {role_name(spec.role("alerting"), generation): ["functions"]}


def _set_policy(admin: PulsarAdmin, namespace: str, name: str, value: Any) -> Callable[[], None]:
    if name == "backlogQuotaMap":
        return lambda: admin.remove_namespace_policy(
            namespace, "backlogQuota", params={"backlogQuotaType": "destination_storage"}
        )
    method = "PUT" if name in ("schemaCompatibilityStrategy", "offloadThreshold") else "POST"
    return lambda: admin.set_namespace_policy(namespace, name, value, method=method)


def normalised(grants: dict[str, list[str]]) -> dict[str, list[str]]:
    return {role: sorted(actions) for role, actions in grants.items()}


def _topic_only(
    effective: dict[str, list[str]], namespace_level: dict[str, list[str]]
) -> dict[str, list[str]]:
    """A topic's own grants: the broker lists them merged with the namespace's."""
    out = {}
    for role, actions in effective.items():
        own = sorted(set(actions) - set(namespace_level.get(role, [])))
        if own:
            out[role] = own
    return out


def set_topic_grants(
    admin: PulsarAdmin, topic: str, wanted: dict[str, list[str]], current: dict[str, list[str]]
) -> None:
    for role in set(current) - set(wanted):  # an older generation's role, or one set by hand
        admin.revoke_topic_permission(topic, role=role)
    for role, actions in wanted.items():
        if current.get(role) != sorted(actions):
            admin.grant_topic_permission(topic, role=role, actions=actions)


def _set_namespace_grants(
    admin: PulsarAdmin, namespace: str, wanted: dict[str, list[str]], current: dict[str, list[str]]
) -> None:
    for role in set(current) - set(wanted):
        admin.revoke_namespace_permission(namespace, role=role)
    for role, actions in wanted.items():
        if current.get(role) != sorted(actions):
            admin.grant_namespace_permission(namespace, role=role, actions=actions)


def pulsar_steps(settings: Settings, admin: PulsarAdmin, spec: TenantSpec, *, generation: str) -> list[Step]:
    """The tenant, namespace, topics, policies and grants `spec` wants, each with what is there now."""
    tenant = spec.name
    ns = f"{tenant}/{NAMESPACE}"
    topics = TenantTopics(tenant)
    steps: list[Step] = []
    clusters = admin.clusters()
    info = admin.get_tenant(tenant)
    wanted_tenant = {"adminRoles": spec.admin_roles, "allowedClusters": clusters}
    steps.append(Step(
        StepKey(PulsarResource.TENANT), f"tenant {tenant} (admin roles {spec.admin_roles or '-'})", info,
        wanted_tenant,
        (lambda: admin.create_tenant(tenant, admin_roles=spec.admin_roles, clusters=clusters)) if info is None
        else (lambda: admin.update_tenant(tenant, admin_roles=spec.admin_roles, clusters=clusters)),
    ))  # fmt: skip
    ns_exists = info is not None and ns in admin.namespaces(tenant)
    reports_partitions = admin.partitions(topics.reports) if ns_exists else 0
    identities = ns_exists and all(
        recorded_identity(admin, t) is not None for t in (topics.reports, topics.alerts)
    )
    lake_subscribed = ns_exists and all(_subscribed(admin, t) for t in (topics.reports, topics.alerts))
    plain = (topics.alerts, topics.dlq, topics.alert_log)
    plain_exist = ns_exists and set(plain) <= set(admin.topics(ns))
    # Namespace, topics, identities and schemas: provisioning, itself idempotent.
    steps.append(Step(
        StepKey(PulsarResource.NAMESPACE),
        f"namespace {ns}, topics (reports x{spec.partitions}) with identities, contract schemas",
        {"namespace": ns_exists, "partitions": reports_partitions, "identities": identities,
         "lake subscription": lake_subscribed, "topics": plain_exist},
        {"namespace": True, "partitions": spec.partitions, "identities": True, "lake subscription": True,
         "topics": True},
        lambda: _provision(admin, spec, current_partitions=reports_partitions),
    ))  # fmt: skip
    for name, value in namespace_policies(spec, settings).items():
        current = admin.get_namespace_policy_or_none(ns, name) if ns_exists else None
        key = StepKey(PulsarResource.POLICY, name)
        steps.append(Step(key, f"{name} on {ns}", current, value, _set_policy(admin, ns, name, value)))
    ns_level = normalised(admin.namespace_permissions(ns)) if ns_exists else {}
    for topic, grants in topic_permissions(spec, generation).items():
        current_grants = _topic_only(admin.topic_permissions(topic), ns_level) if ns_exists else {}
        steps.append(Step(
            StepKey(PulsarResource.TOPIC_GRANTS, topic),
            f"permissions on {TenantTopics.local_name(topic)}: "
            + ", ".join(f"{role} {'/'.join(a)}" for role, a in grants.items()),
            Exactly(current_grants), Exactly(normalised(grants)),
            partial(set_topic_grants, admin, topic, grants, current_grants),
        ))  # fmt: skip
    ns_grants = namespace_permissions(spec, generation)
    current_ns = (
        {r: a for r, a in normalised(admin.namespace_permissions(ns)).items() if r.startswith(tenant)}
        if ns_exists
        else {}
    )
    steps.append(Step(
        StepKey(PulsarResource.NAMESPACE_GRANTS), f"{', '.join(ns_grants)} may run functions in {ns}",
        Exactly(current_ns), Exactly(normalised(ns_grants)),
        partial(_set_namespace_grants, admin, ns, ns_grants, current_ns),
    ))  # fmt: skip
    return steps


def spec_record_step(
    admin: PulsarAdmin, spec: TenantSpec, *, generation: str, ns_exists: bool, signing_key: bytes
) -> Step:
    """The spec and the generation recorded on the namespace (the roles are named after it), with
    the MAC that tells the platform it wrote them (platform.onboarded)."""
    ns = f"{spec.name}/{NAMESPACE}"
    current_props = admin.get_namespace_policy_or_none(ns, "properties") if ns_exists else None
    spec_json = spec.model_dump_json()
    mac = record_mac(signing_key, tenant=spec.name, generation=generation, spec_json=spec_json)
    wanted_props = {SPEC_PROPERTY: spec_json, GENERATION_PROPERTY: generation, MAC_PROPERTY: mac}
    return Step(
        StepKey(PulsarResource.SPEC), "spec recorded on the namespace", current_props, wanted_props,
        lambda: admin.set_namespace_policy(ns, "properties", wanted_props, method="PUT"),
    )  # fmt: skip


def _subscribed(admin: PulsarAdmin, topic: str) -> bool:
    try:
        return LAKE_SUBSCRIPTION in admin.subscriptions(topic)
    except PulsarAdminError as exc:
        if exc.status == 404:
            return False
        raise


def _provision(admin: PulsarAdmin, spec: TenantSpec, *, current_partitions: int) -> None:
    if current_partitions > spec.partitions:
        raise PeacewatchError(
            f"{spec.name}: the reports topic has {current_partitions} partitions and Pulsar cannot reduce "
            f"them; set partitions: {current_partitions} (or more) in the spec"
        )
    if 0 < current_partitions < spec.partitions:
        admin.set_topic_partitions(TenantTopics(spec.name).reports, partitions=spec.partitions)
    provision_topics(admin, tenant=spec.name, partitions=spec.partitions)
