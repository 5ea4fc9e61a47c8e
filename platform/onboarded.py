"""Is a force onboarded, and what was recorded when it was? Read by every package; written by
onboarding (peacewatch.tenants.onboarding), which records the spec and the force's generation as
properties of its namespace.

A force's own admin role may rewrite its namespace's properties (Pulsar lets a tenant admin set
namespace policies; tests/integration/test_hostile_names.py shows it). The platform acts on the
record as superuser - names its roles after the generation, mints tokens for them, re-applies the
spec on a key rotation - so the record carries a MAC keyed from the token signing key, which no
force holds: a record that does not verify is refused (RecordNotAuthentic), never acted on.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from peacewatch.platform.errors import PeacewatchError, PulsarAdminError, RecordNotAuthentic
from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.topics import NAMESPACE

__all__ = [
    "GENERATION_PROPERTY",
    "MAC_PROPERTY",
    "SPEC_PROPERTY",
    "Record",
    "current_generation",
    "is_onboarded",
    "onboarded_tenants",
    "read_record",
    "record_mac",
    "recorded_spec",
    "require_onboarded",
]

SPEC_PROPERTY = "peacewatch.spec"
# The force's onboarding generation: part of its role names, new after a removal.
GENERATION_PROPERTY = "peacewatch.generation"
MAC_PROPERTY = "peacewatch.record-mac"


def record_mac(signing_key: bytes, *, tenant: str, generation: str, spec_json: str) -> str:
    """HMAC-SHA256 of what is recorded, under a key derived from the token signing key (so a MAC
    is never also a valid token signature) and bound to the tenant (no record moves to another)."""
    key = hmac.new(signing_key, b"peacewatch.record.v1", hashlib.sha256).digest()
    body = json.dumps([tenant, generation, spec_json]).encode()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Record:
    """A force's record, verified: its generation and the spec last applied (JSON)."""

    tenant: str
    generation: str
    spec: dict[str, Any]


def read_record(
    admin: PulsarAdmin, tenant: str, *, signing_key: bytes, allow_unsigned: bool = False
) -> Record | None:
    """The force's record if there is one; RecordNotAuthentic if it is not the platform's.
    `allow_unsigned`: a record from before records were signed is taken as it is - only for
    `tenants apply` with the operator's spec file, which then records it signed."""
    try:
        props = admin.get_namespace_policy_or_none(f"{tenant}/{NAMESPACE}", "properties") or {}
    except PulsarAdminError:
        return None
    spec_json, generation = props.get(SPEC_PROPERTY), props.get(GENERATION_PROPERTY)
    if not spec_json and not generation:
        return None
    mac = str(props.get(MAC_PROPERTY) or "")
    want = record_mac(signing_key, tenant=tenant, generation=str(generation or ""), spec_json=str(spec_json))
    if not mac and not allow_unsigned:
        raise RecordNotAuthentic(
            f"the record on {tenant}/{NAMESPACE} carries no MAC (written before records were signed, or "
            f"by someone else): check the force's admins, then `peacewatch tenants apply` its spec file once"
        )
    if mac and not hmac.compare_digest(mac, want):
        raise RecordNotAuthentic(
            f"the record on {tenant}/{NAMESPACE} was changed outside peacewatch (its MAC does not verify): "
            "nothing done; check who administers the force, then `peacewatch tenants apply FILE "
            "--new-generation` with its spec file (tokens handed out before stop working)"
        )
    try:
        spec = json.loads(str(spec_json))
    except ValueError:
        spec = None
    if not isinstance(spec, dict) or spec.get("name") != tenant:
        raise RecordNotAuthentic(f"the record on {tenant}/{NAMESPACE} does not describe {tenant}: refused")
    return Record(tenant=tenant, generation=str(generation), spec=spec)


def is_onboarded(admin: PulsarAdmin, tenant: str) -> bool:
    """The tenant exists and has its `drones` namespace."""
    return admin.get_tenant(tenant) is not None and f"{tenant}/{NAMESPACE}" in admin.namespaces(tenant)


def require_onboarded(admin: PulsarAdmin, tenant: str) -> None:
    if not is_onboarded(admin, tenant):
        raise PeacewatchError(f"tenant {tenant!r} is not onboarded: run `peacewatch tenants add {tenant}`")


def onboarded_tenants(admin: PulsarAdmin) -> list[str]:
    return sorted(t for t in admin.tenants() if f"{t}/{NAMESPACE}" in admin.namespaces(t))


def current_generation(
    admin: PulsarAdmin, tenant: str, *, signing_key: bytes, allow_unsigned: bool = False
) -> str | None:
    """The force's onboarding generation, verified, if it is onboarded."""
    record = read_record(admin, tenant, signing_key=signing_key, allow_unsigned=allow_unsigned)
    return record.generation if record is not None else None


def recorded_spec(admin: PulsarAdmin, tenant: str) -> dict[str, Any] | None:
    """The spec last applied to this tenant, as recorded (JSON), unverified: for what the force's
    own admin may set anyway (its analyses' default threshold), never for acting as the platform."""
    try:
        props = admin.get_namespace_policy_or_none(f"{tenant}/{NAMESPACE}", "properties") or {}
    except PeacewatchError:
        return None
    text = props.get(SPEC_PROPERTY)
    return json.loads(text) if text else None
