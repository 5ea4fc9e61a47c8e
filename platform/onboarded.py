"""Is a force onboarded, and what was recorded when it was? Read by every package; written by
onboarding (peacewatch.tenants.onboarding), which records the spec and the force's generation as
properties of its namespace."""

from __future__ import annotations

import json
from typing import Any

from peacewatch.platform.errors import PeacewatchError, PulsarAdminError
from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.topics import NAMESPACE

__all__ = [
    "GENERATION_PROPERTY",
    "SPEC_PROPERTY",
    "current_generation",
    "is_onboarded",
    "onboarded_tenants",
    "recorded_spec",
    "require_onboarded",
]

SPEC_PROPERTY = "peacewatch.spec"
# The force's onboarding generation: part of its role names, new after a removal.
GENERATION_PROPERTY = "peacewatch.generation"


def is_onboarded(admin: PulsarAdmin, tenant: str) -> bool:
    """The tenant exists and has its `drones` namespace."""
    return admin.get_tenant(tenant) is not None and f"{tenant}/{NAMESPACE}" in admin.namespaces(tenant)


def require_onboarded(admin: PulsarAdmin, tenant: str) -> None:
    if not is_onboarded(admin, tenant):
        raise PeacewatchError(f"tenant {tenant!r} is not onboarded: run `peacewatch tenants add {tenant}`")


def onboarded_tenants(admin: PulsarAdmin) -> list[str]:
    return sorted(t for t in admin.tenants() if f"{t}/{NAMESPACE}" in admin.namespaces(t))


def current_generation(admin: PulsarAdmin, tenant: str) -> str | None:
    """The force's onboarding generation, if it is onboarded."""
    try:
        props = admin.get_namespace_policy_or_none(f"{tenant}/{NAMESPACE}", "properties") or {}
    except PulsarAdminError:
        return None
    value = props.get(GENERATION_PROPERTY)
    return str(value) if value else None


def recorded_spec(admin: PulsarAdmin, tenant: str) -> dict[str, Any] | None:
    """The spec last applied to this tenant, as recorded (JSON), if any."""
    try:
        props = admin.get_namespace_policy_or_none(f"{tenant}/{NAMESPACE}", "properties") or {}
    except PeacewatchError:
        return None
    text = props.get(SPEC_PROPERTY)
    return json.loads(text) if text else None
