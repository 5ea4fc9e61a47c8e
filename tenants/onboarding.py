"""Onboard a police force from its TenantSpec: Pulsar tenant, namespace policies, topics, schemas,
permissions, its alert function, its MinIO bucket/user/policy and its Delta tables.

Every piece is a Step that knows what is there now and what the spec wants; `plan` lists the
steps that differ, `apply` carries out only those (so a second apply changes nothing).
What the spec wants is computed by pure functions (`namespace_policies`, `topic_permissions`),
unit-tested apart from the broker.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from deltalake import DeltaTable
from pydantic import BaseModel
from rich.console import Console

from peacewatch.functions.alert_deploy import (
    ALERT_FUNCTION_NAME,
    DEFAULT_ALERT_RUNTIME,
    JAVA_INSTANCE_FLAGS,
    AlertRuntime,
    deploy_alerting,
)
from peacewatch.functions.decision import AlertConfig
from peacewatch.lakehouse.arrow_schema import arrow_schema
from peacewatch.lakehouse.lake import TABLES, lake_table
from peacewatch.lakehouse.upkeep import open_table
from peacewatch.platform.auth import (
    KIT_LIFETIMES,
    mint_token,
    new_generation,
    role_name,
    secret_key,
    token_needs_renewal,
)
from peacewatch.platform.clients import kit_admin
from peacewatch.platform.contract import Alert, Report
from peacewatch.platform.credentials import MINIO_KITS, TOKEN_KITS, Kit, kit_dir, secrets_dir, write_kit_token
from peacewatch.platform.errors import PeacewatchError, PulsarAdminError, TenantNotOurs
from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.settings import Settings
from peacewatch.platform.topic_identity import TOPIC_ID_PROPERTY
from peacewatch.platform.topics import LAKE_SUBSCRIPTION, NAMESPACE, TenantTopics
from peacewatch.tenants.lake_access import LakeAccess, minio_user
from peacewatch.tenants.provisioning import provision_topics
from peacewatch.tenants.spec import RoleKind, TenantSpec, spec_from_json

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
# The force's onboarding generation: part of its role names, new after a removal.
GENERATION_PROPERTY = "peacewatch.generation"
_MAY = {"lake": "read/write", "analyst": "read", "upkeep": "read/write/delete"}
_MB = 1024 * 1024


@dataclass(frozen=True)
class Exactly:
    """A wanted value that must match exactly (grants: an extra role is a leak, not a detail)."""

    value: Any

    def __str__(self) -> str:
        return str(self.value)


def same(current: Any, wanted: Any) -> bool:
    """Does what is there satisfy what is wanted? Mappings: every wanted key matches (the broker
    adds fields of its own); lists compare as sets (order is not meaningful in roles or actions);
    Exactly(...) must be equal."""
    if isinstance(wanted, Exactly):
        return isinstance(current, Exactly) and current.value == wanted.value
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


def _normalised(grants: dict[str, list[str]]) -> dict[str, list[str]]:
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


def _set_topic_grants(
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


def _kit_token_state(settings: Settings, tenant: str, kit: Kit, role: str) -> str:
    import jwt

    path = kit_dir(settings, tenant, kit) / "token"
    if not path.exists():
        return "missing"
    token = path.read_text().strip()
    try:
        claims = jwt.decode(token, secret_key(settings), algorithms=["HS256"], options={"verify_exp": False})
    except jwt.PyJWTError:
        return "signed with another key"
    if claims.get("sub") != role:
        return f"for {claims.get('sub')}"
    if token_needs_renewal(token, lifetime=KIT_LIFETIMES[kit]):
        return "due for renewal"
    return "current"


def _write_kit_token(settings: Settings, tenant: str, kit: Kit, role: str) -> None:
    token = mint_token(secret_key(settings), role=role, expires_in=KIT_LIFETIMES[kit])
    write_kit_token(settings, tenant, kit, token)


def current_generation(admin: PulsarAdmin, tenant: str) -> str | None:
    """The force's onboarding generation, if it is onboarded."""
    try:
        props = admin.get_namespace_policy_or_none(f"{tenant}/{NAMESPACE}", "properties") or {}
    except PulsarAdminError:
        return None
    value = props.get(GENERATION_PROPERTY)
    return str(value) if value else None


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
    generation = current_generation(admin, tenant) or new_generation()
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
    plain = (topics.alerts, topics.dlq, topics.alert_log)
    plain_exist = ns_exists and set(plain) <= set(admin.topics(ns))
    # Namespace, topics, identities and schemas: the foundation's provisioning, itself idempotent.
    steps.append(Step(
        f"namespace {ns}, topics (reports x{spec.partitions}) with identities, contract schemas",
        {"namespace": ns_exists, "partitions": reports_partitions, "identities": identities,
         "lake subscription": lake_subscribed, "topics": plain_exist},
        {"namespace": True, "partitions": spec.partitions, "identities": True, "lake subscription": True,
         "topics": True},
        lambda: _provision(admin, spec, current_partitions=reports_partitions),
    ))  # fmt: skip
    for name, value in namespace_policies(spec, settings).items():
        current = admin.get_namespace_policy_or_none(ns, name) if ns_exists else None
        steps.append(Step(f"{name} on {ns}", current, value, _set_policy(admin, ns, name, value)))
    ns_level = _normalised(admin.namespace_permissions(ns)) if ns_exists else {}
    for topic, grants in topic_permissions(spec, generation).items():
        current_grants = _topic_only(admin.topic_permissions(topic), ns_level) if ns_exists else {}
        steps.append(Step(
            f"permissions on {TenantTopics.local_name(topic)}: "
            + ", ".join(f"{role} {'/'.join(a)}" for role, a in grants.items()),
            Exactly(current_grants), Exactly(_normalised(grants)),
            partial(_set_topic_grants, admin, topic, grants, current_grants),
        ))  # fmt: skip
    ns_grants = namespace_permissions(spec, generation)
    current_ns = (
        {r: a for r, a in _normalised(admin.namespace_permissions(ns)).items() if r.startswith(tenant)}
        if ns_exists
        else {}
    )
    steps.append(Step(
        f"{', '.join(ns_grants)} may run functions in {ns}", Exactly(current_ns),
        Exactly(_normalised(ns_grants)),
        partial(_set_namespace_grants, admin, ns, ns_grants, current_ns),
    ))  # fmt: skip

    # MinIO: the bucket (lake + offloaded ledgers); per kit a policy for it alone and a user.
    bucket = settings.tenant_bucket(tenant)
    steps.append(
        Step(f"MinIO bucket {bucket}", lake.bucket_exists(tenant), True, lambda: lake.create_bucket(tenant))
    )
    for kit in MINIO_KITS:
        user = minio_user(tenant, kit)
        steps.append(Step(
            f"MinIO policy {user} ({_MAY[kit]} {bucket})",
            _policy_statements(lake.policy(tenant, kit)), _policy_statements(lake.wanted_policy(tenant, kit)),
            partial(lake.put_policy, tenant, kit),
        ))  # fmt: skip
        steps.append(Step(
            f"MinIO user {user}, its keys in the {kit} kit",
            {"policy": lake.user_policy(tenant, kit), "credentials": lake.has_credentials(tenant, kit)},
            {"policy": user, "credentials": True},
            partial(lake.put_user, tenant, kit),
        ))  # fmt: skip
    # Token kits: re-issued when missing, for another role or generation, or past half their life.
    for kit in TOKEN_KITS:
        role = role_name(spec.role(kit), generation)  # type: ignore[arg-type]
        steps.append(Step(
            f"{kit} kit token ({role}, {KIT_LIFETIMES[kit].days} days)",
            _kit_token_state(settings, tenant, kit, role), "current",
            partial(_write_kit_token, settings, tenant, kit, role),
        ))  # fmt: skip
    bucket_there = lake.bucket_exists(tenant)
    models: dict[str, type[BaseModel]] = {"reports": Report, "alerts": Alert}
    for table_name in TABLES:
        where = lake_table(settings, tenant=tenant, name=table_name, credentials=lake.root)
        model = models[table_name]
        there = bucket_there and open_table(where) is not None
        steps.append(Step(
            f"Delta table {where.uri}", there, True,
            partial(DeltaTable.create, where.uri, schema=arrow_schema(model), partition_by=["date"],
                    mode="ignore", storage_options=where.storage_options),
        ))  # fmt: skip

    # The alert function, deployed last: its inputs, outputs and permissions exist by then.
    if with_function:
        alerting_token = next(s for s in steps if s.what.startswith("alerting kit token"))
        steps.append(_function_step(settings, admin, spec, ns_exists=ns_exists, console=console,
                                    token_current=not alerting_token.needed))  # fmt: skip
    # The generation is recorded with the spec: the roles above are named after it.
    current_props = admin.get_namespace_policy_or_none(ns, "properties") if ns_exists else None
    wanted_props = {SPEC_PROPERTY: spec.model_dump_json(), GENERATION_PROPERTY: generation}
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
    settings: Settings, admin: PulsarAdmin, spec: TenantSpec, *, ns_exists: bool, console: Console | None,
    token_current: bool,
) -> Step:  # fmt: skip
    tenant = spec.name
    fn = admin.get_function(tenant, NAMESPACE, ALERT_FUNCTION_NAME) if ns_exists else None
    a = spec.alerting
    current_fn = None if fn is None else {
        "userConfig": fn.get("userConfig"), "parallelism": fn.get("parallelism"),
        "retainOrdering": fn.get("retainOrdering"), "logTopic": fn.get("logTopic"),
        "runtime": str(fn.get("runtime", "PYTHON")).lower(),
        "runtimeFlags": fn.get("runtimeFlags") or None,
        # A renewed alerting token reaches the instances only through a redeploy.
        "token": "current" if token_current else "renewed",
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
        "userConfig": a.function_config(source_id=identity).user_config(),
        "parallelism": a.parallelism,
        "retainOrdering": True,
        "logTopic": None,
        "runtime": a.runtime,
        "runtimeFlags": JAVA_INSTANCE_FLAGS if a.runtime == "java" else None,
        "token": "current",
    }
    # The worker refuses to change a function's runtime in place: a switch is a new registration
    # (the `alerting` subscription stays, so the other implementation resumes where this one was).
    switched = current_fn is not None and current_fn["runtime"] != a.runtime
    return Step(
        f"alert function ({a.runtime}, threshold {a.threshold}, cooldown {a.cooldown_s:g}s, "
        f"parallelism {a.parallelism})",
        current_fn, wanted_fn,
        partial(_deploy_as_alerting, settings, tenant, a.parallelism, console,
                a.function_config(),
                reregister=current_fn is not None and (not token_current or switched), runtime=a.runtime),
    )  # fmt: skip


def _deploy_as_alerting(
    settings: Settings, tenant: str, parallelism: int, console: Console | None, config: AlertConfig,
    *, reregister: bool = False, runtime: AlertRuntime = DEFAULT_ALERT_RUNTIME,
) -> None:  # fmt: skip
    # Deployed with the force's alerting token, not the platform's: the worker hands the
    # deployer's token to the function's instances, which then hold that role's rights only.
    with kit_admin(settings, tenant=tenant, kit="alerting") as as_force:
        deploy_alerting(
            settings,
            as_force,
            tenant=tenant,
            parallelism=parallelism,
            console=console,
            config=config,
            reregister=reregister,  # a new token reaches the instances only through a new registration
            runtime=runtime,
        )


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


# Pulsar's own tenants (and the functions worker's): never ours to remove, whatever is asked.
SYSTEM_TENANTS = frozenset({"public", "pulsar", "sample"})


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
            table = open_table(lake_table(settings, tenant=tenant, name=name, credentials=lake.root))
            rows += table.count() if table is not None else 0
    return {
        "topic_bytes": stored,
        "lake_rows": rows,
        "other_objects": lake.object_count(tenant, outside="lake/"),
    }


def _held_text(tenant: str, held: dict[str, int]) -> str:
    return (
        f"{tenant!r} holds data ({held['topic_bytes']:,} bytes in its topics, {held['lake_rows']:,} rows in "
        f"its lake, {held['other_objects']:,} offloaded objects)"
    )


def remove_tenant(
    settings: Settings, admin: PulsarAdmin, lake: LakeAccess, *, tenant: str, purge: bool
) -> list[str]:
    """Take a force off the platform. Only forces peacewatch onboarded (their spec is recorded on
    their namespace), never Pulsar's own tenants. Without `purge`, refuses while the force holds
    any data - checked again after its producers are fenced off, right before deleting."""
    if tenant in SYSTEM_TENANTS:
        raise TenantNotOurs(f"{tenant!r} is one of Pulsar's own tenants: peacewatch never removes it")
    exists = admin.get_tenant(tenant) is not None
    spec = applied_spec(admin, tenant) if exists else None
    generation = current_generation(admin, tenant) if exists else None
    if exists and spec is None:
        raise TenantNotOurs(
            f"tenant {tenant!r} was not onboarded by peacewatch (no recorded spec on {tenant}/{NAMESPACE}): "
            "nothing removed; remove it with Pulsar's own tools if you mean to"
        )
    held = held_data(settings, admin, lake, tenant=tenant)
    if not purge and any(held.values()):
        raise PeacewatchError(
            _held_text(tenant, held) + ": nothing removed; re-run with --purge to delete it for good"
        )
    done = []
    if exists:
        assert spec is not None
        ns = f"{tenant}/{NAMESPACE}"
        grants = topic_permissions(spec, generation or "")
        # Fence: nobody may produce any more, and connected clients are dropped (they reconnect
        # and are refused). Whatever arrived before the fence is counted below.
        for topic in grants:
            for role in _normalised(admin.topic_permissions(topic)):
                admin.revoke_topic_permission(topic, role=role)
        admin.unload_namespace(ns)
        if admin.delete_function(tenant, NAMESPACE, ALERT_FUNCTION_NAME):
            done.append(f"alert function of {tenant}")
        held = held_data(settings, admin, lake, tenant=tenant)
        if not purge and any(held.values()):
            for topic, wanted in grants.items():  # put the force back as it was (function: `tenants apply`)
                _set_topic_grants(admin, topic, wanted, {})
            raise PeacewatchError(
                _held_text(tenant, held)
                + " - it arrived while removing: nothing deleted (permissions restored; redeploy its "
                "alert function with `peacewatch tenants apply`); re-run with --purge to delete it"
            )
        admin.delete_tenant(tenant, force=True)
        done.append(f"Pulsar tenant {tenant} with its namespace and topics")
    # Holding no data, its bucket only has empty tables left: it goes too.
    done.extend(lake.remove(tenant))
    kits = secrets_dir(settings) / "forces" / tenant
    if kits.exists():
        shutil.rmtree(kits)
        done.append(f"credential kits of {tenant}")
    return done
