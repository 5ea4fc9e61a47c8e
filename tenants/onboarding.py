"""Onboard a police force from its TenantSpec: the orchestrator.

Each package contributes the steps of what it owns - the Pulsar tenant (tenants.pulsar_steps),
the token kits (platform.kit_tokens), the MinIO bucket, users and Delta tables
(lakehouse.onboarding), the alert function (functions.deploy.onboarding) - and this collects them
into one plan, in the order they can be applied. `plan_steps` reads only; `apply_spec` carries
out the steps that differ (so a second apply changes nothing).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from peacewatch.functions.deploy.alerting import ALERT_FUNCTION_NAME
from peacewatch.functions.deploy.onboarding import alert_function_step
from peacewatch.lakehouse.access import LakeAccess, minio_errors
from peacewatch.lakehouse.lake import TABLES, lake_table
from peacewatch.lakehouse.onboarding import minio_steps, table_steps
from peacewatch.lakehouse.upkeep import open_table
from peacewatch.platform.auth import new_generation, role_name, secret_key
from peacewatch.platform.clients import pulsar_admin
from peacewatch.platform.credentials import TOKEN_KITS, secrets_dir
from peacewatch.platform.errors import PeacewatchError, RecordNotAuthentic, TenantNotOurs
from peacewatch.platform.kit_tokens import KitResource, kit_token_steps
from peacewatch.platform.onboarded import current_generation, onboarded_tenants, read_record
from peacewatch.platform.progress import LOGGED, Progress
from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.settings import Settings
from peacewatch.platform.steps import Plan, Step, StepKey, apply_steps
from peacewatch.platform.topics import NAMESPACE
from peacewatch.tenants.pulsar_steps import (
    PulsarResource,
    normalised,
    pulsar_steps,
    set_topic_grants,
    spec_record_step,
    topic_permissions,
)
from peacewatch.tenants.spec import TenantSpec, spec_from_record

__all__ = [
    "SYSTEM_TENANTS",
    "RecordedForce",
    "applied_spec",
    "apply_spec",
    "held_data",
    "plan_steps",
    "reapply_all",
    "recorded_forces",
    "remove_tenant",
]


def applied_spec(
    admin: PulsarAdmin, tenant: str, *, signing_key: bytes, allow_unsigned: bool = False
) -> TenantSpec | None:
    """The spec last applied to this tenant (kept as a namespace property, verified), if any."""
    record = read_record(admin, tenant, signing_key=signing_key, allow_unsigned=allow_unsigned)
    return spec_from_record(record.spec, tenant=tenant) if record is not None else None


def plan_steps(
    settings: Settings,
    admin: PulsarAdmin,
    lake: LakeAccess,
    spec: TenantSpec,
    *,
    progress: Progress = LOGGED,
    with_function: bool = True,
    fresh_generation: bool = False,
    generation: str | None = None,
) -> list[Step]:
    """Every step of onboarding `spec`, each with what is there now. Reads only; changes nothing.
    `generation`: the force's, from a record verified earlier (a key rotation re-applies with it).
    `with_function=False` leaves the alert function out (tests of other parts skip its ~10 s deploy).
    `fresh_generation`: new role names whatever is recorded (a record that does not verify)."""
    tenant = spec.name
    key = secret_key(settings)
    # The operator's spec file is applied here: a record from before records were signed is taken.
    if generation is None:
        recorded = (
            None if fresh_generation
            else current_generation(admin, tenant, signing_key=key, allow_unsigned=True)
        )  # fmt: skip
        generation = recorded or new_generation()
    plan = Plan(pulsar_steps(settings, admin, spec, generation=generation))
    ns_exists = plan[StepKey(PulsarResource.NAMESPACE)].current["namespace"]
    plan.extend(minio_steps(settings, lake, tenant=tenant))
    roles = {kit: role_name(spec.role(kit), generation) for kit in TOKEN_KITS}  # type: ignore[arg-type]
    plan.extend(kit_token_steps(settings, tenant=tenant, roles=roles))
    plan.extend(table_steps(settings, lake, tenant=tenant))
    # The alert function, deployed last: its inputs, outputs and permissions exist by then.
    if with_function:
        plan.extend([alert_function_step(
            settings, admin, tenant=tenant, alerting=spec.alerting, ns_exists=ns_exists, progress=progress,
            token_current=not plan[StepKey(KitResource.TOKEN, "alerting")].needed,
        )])  # fmt: skip
    # The generation is recorded with the spec: the roles above are named after it.
    plan.extend([spec_record_step(admin, spec, generation=generation, ns_exists=ns_exists, signing_key=key)])
    return plan.steps


def apply_spec(
    settings: Settings,
    spec: TenantSpec,
    *,
    dry_run: bool = False,
    with_function: bool = True,
    fresh_generation: bool = False,
    generation: str | None = None,
    progress: Progress = LOGGED,
    on_plan: Callable[[list[Step]], None] = lambda _steps: None,
    on_step: Callable[[Step], None] = lambda _step: None,
) -> list[Step]:
    """Plan one spec and, unless dry_run, apply the steps that differ. `on_plan` sees the whole
    plan before anything changes, `on_step` each step once it is done. Returns the needed steps."""
    with minio_errors(), pulsar_admin(settings) as admin:
        steps = plan_steps(settings, admin, LakeAccess(settings), spec, progress=progress,
                           with_function=with_function, fresh_generation=fresh_generation,
                           generation=generation)  # fmt: skip
        on_plan(steps)
        needed = [s for s in steps if s.needed]
        if needed and not dry_run:
            with progress.status(f"Onboarding {spec.name} ..."):
                apply_steps(steps, on_step=on_step)
        return needed


@dataclass(frozen=True, slots=True)
class RecordedForce:
    """A force as its verified record has it: spec, generation, whether its alert function runs."""

    spec: TenantSpec
    generation: str
    has_function: bool


def recorded_forces(settings: Settings) -> tuple[list[RecordedForce], dict[str, str]]:
    """Every onboarded force's verified record (read before rotating the key that signed it), and
    the forces left out with why: a record that does not verify is never acted on. A record from
    before records were signed (an upgrade) is taken if it names its own tenant."""
    key = secret_key(settings)
    forces, refused = [], {}
    with pulsar_admin(settings) as admin:
        for tenant in onboarded_tenants(admin):
            try:
                record = read_record(admin, tenant, signing_key=key, allow_unsigned=True)
                spec = spec_from_record(record.spec, tenant=tenant) if record is not None else None
            except RecordNotAuthentic as exc:
                refused[tenant] = str(exc)
                continue
            if spec is None or record is None:
                continue
            running = admin.get_function(tenant, NAMESPACE, ALERT_FUNCTION_NAME) is not None
            forces.append(RecordedForce(spec=spec, generation=record.generation, has_function=running))
    return forces, refused


def reapply_all(
    settings: Settings,
    forces: list[RecordedForce],
    *,
    progress: Progress = LOGGED,
    on_plan: Callable[[TenantSpec, list[Step]], None] = lambda _spec, _steps: None,
    on_step: Callable[[Step], None] = lambda _step: None,
) -> list[str]:
    """Apply the forces' recorded specs (`recorded_forces`) again: after a key rotation this re-issues
    their kits' tokens and redeploys their alert functions (where one runs) with the new token."""
    for force in forces:
        # The generation verified before the rotation: the record is re-signed with the new key.
        apply_spec(settings, force.spec, with_function=force.has_function, progress=progress,
                   generation=force.generation, on_plan=partial(on_plan, force.spec),
                   on_step=on_step)  # fmt: skip
    return [force.spec.name for force in forces]


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
    key = secret_key(settings)
    spec = applied_spec(admin, tenant, signing_key=key) if exists else None
    generation = current_generation(admin, tenant, signing_key=key) if exists else None
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
            for role in normalised(admin.topic_permissions(topic)):
                admin.revoke_topic_permission(topic, role=role)
        admin.unload_namespace(ns)
        if admin.delete_function(tenant, NAMESPACE, ALERT_FUNCTION_NAME):
            done.append(f"alert function of {tenant}")
        held = held_data(settings, admin, lake, tenant=tenant)
        if not purge and any(held.values()):
            for topic, wanted in grants.items():  # put the force back as it was (function: `tenants apply`)
                set_topic_grants(admin, topic, wanted, {})
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
