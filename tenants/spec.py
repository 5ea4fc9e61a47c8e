"""A police force as a tenant: everything onboarding needs, in one YAML file per force."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from peacewatch.functions.deploy.alerting_spec import AlertingSpec
from peacewatch.platform.auth import validate_role_name
from peacewatch.platform.errors import PeacewatchError, RecordNotAuthentic
from peacewatch.platform.topics import validate_tenant_name

__all__ = ["AlertingSpec", "RetentionSpec", "RoleKind", "TenantSpec", "load_spec", "spec_from_record"]

RoleKind = Literal["fleet", "officer", "lake", "alerting"]
SchemaCompatibility = Literal["BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FULL", "FULL_TRANSITIVE"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetentionSpec(_Spec):
    """How long acknowledged reports stay in Pulsar (the lake keeps them for good)."""

    minutes: int = Field(default=7 * 24 * 60, ge=-1, description="-1: forever")
    size_mb: int = Field(default=10_240, ge=-1, description="-1: unlimited")


class OffloadSpec(_Spec):
    """Tiered storage: closed ledgers move to the tenant's MinIO bucket."""

    threshold_mb: int = Field(default=512, ge=-1, description="Offload past this in BookKeeper; -1: off")
    deletion_lag_minutes: int = Field(default=240, ge=0, description="Keep the BookKeeper copy this long")


class RolesSpec(_Spec):
    """Base names of the force's roles (default {tenant}-{role}). The broker knows each with the
    force's onboarding generation appended (`north-precinct-officer.3fa9c1`)."""

    fleet: str | None = None
    officer: str | None = None
    lake: str | None = None
    alerting: str | None = None

    @field_validator("fleet", "officer", "lake", "alerting")
    @classmethod
    def _valid_role(cls, value: str | None) -> str | None:
        return None if value is None else validate_role_name(value)


_REFUSED = {
    "message_ttl_s": "a TTL would expire reports the lake has not stored yet; acknowledged reports leave "
    "Pulsar by `retention`",
    "backlog_quota_mb": "a backlog quota would block the drones (and the alerts) or drop unstored reports "
    "while a sink is down; old ledgers move to MinIO instead (`offload`)",
}


class TenantSpec(_Spec):
    name: str = Field(description="Pulsar tenant name, e.g. north-precinct")
    display_name: str = Field(min_length=1, max_length=200)
    alerting: AlertingSpec = Field(default_factory=AlertingSpec)
    partitions: int = Field(default=4, ge=1, le=256, description="Partitions of the reports topic")
    retention: RetentionSpec = Field(default_factory=RetentionSpec)
    offload: OffloadSpec = Field(default_factory=OffloadSpec)
    schema_compatibility: SchemaCompatibility = "BACKWARD_TRANSITIVE"
    admin_roles: list[str] = Field(default_factory=list, description="Roles that administer this tenant")
    roles: RolesSpec = Field(default_factory=RolesSpec)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return validate_tenant_name(value)

    @field_validator("admin_roles")
    @classmethod
    def _valid_admin_roles(cls, value: list[str]) -> list[str]:
        return [validate_role_name(r) for r in value]

    @model_validator(mode="after")
    def _distinct_roles(self) -> TenantSpec:
        # Two kinds under one name would hand a drone an officer's reads (or an admin's rights).
        names = [self.role(k) for k in ("fleet", "officer", "lake", "alerting")] + list(self.admin_roles)
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"role names must differ, {', '.join(twice)} is given twice")
        return self

    @model_validator(mode="before")
    @classmethod
    def _no_ttl_no_quota(cls, data: Any) -> Any:
        # Both apply to every subscription of the namespace, the lake's included: a TTL expires
        # reports the lake has not stored yet, and a backlog quota either blocks the drones (and
        # with them the alerts) or evicts unstored reports while a sink is down. Tiered storage
        # keeps BookKeeper bounded instead (offload).
        if isinstance(data, dict):
            data = dict(data)
            for key, why in _REFUSED.items():
                if data.pop(key, None) not in (None, 0, -1):  # 0 / -1 say "none", which is what applies
                    raise ValueError(f"{key} is not supported: {why}")
        return data

    def role(self, role: RoleKind) -> str:
        """The role's base name (without the generation)."""
        return getattr(self.roles, role) or f"{self.name}-{role}"

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=False), sort_keys=False)


def _reason(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "<spec>"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{where}: {first['msg']}{more}"


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader refusing a key given twice in one mapping (YAML would keep the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is given twice (line {key_node.start_mark.line + 1})",
                    key_node.start_mark,
                )  # fmt: skip
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_spec(path: Path) -> TenantSpec:
    """A TenantSpec from a YAML file, or PeacewatchError saying which field is wrong and why."""
    try:
        data: Any = yaml.load(path.read_bytes().decode("utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506
    except OSError as exc:
        raise PeacewatchError(f"cannot read tenant spec {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise PeacewatchError(
            f"{path} is not UTF-8 text (byte {exc.start}): save the spec as UTF-8"
        ) from None
    except yaml.YAMLError as exc:
        first = " ".join(str(exc).split())  # one line, whatever YAML's message spans
        raise PeacewatchError(f"{path} is not valid YAML: {first[:300]}") from None
    if not isinstance(data, dict):
        raise PeacewatchError(f"{path}: a tenant spec is a mapping with at least name and display_name")
    try:
        return TenantSpec.model_validate(data)
    except ValidationError as exc:
        raise PeacewatchError(f"{path}: {_reason(exc)}") from None


def spec_from_record(data: dict[str, Any], *, tenant: str) -> TenantSpec:
    """A spec recorded on `tenant`'s namespace (platform.onboarded.read_record). Fields of older
    releases that are no longer applied (a TTL, a backlog quota) are dropped: the next `apply`
    removes those policies. A record naming another tenant is refused."""
    if data.get("name") != tenant:
        raise RecordNotAuthentic(f"the record on {tenant}'s namespace names {data.get('name')!r}: refused")
    data = dict(data)
    for key in _REFUSED:
        data.pop(key, None)
    if isinstance(data.get("roles"), dict):
        data["roles"].pop("analyst", None)  # analysts use the lake only: no Pulsar role any more
    return TenantSpec.model_validate(data)
