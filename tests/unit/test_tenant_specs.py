"""Tenant specs, the onboarding's wanted state, and tokens: pure logic, no broker."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from peacewatch.functions.runtime.decision import AlertConfig
from peacewatch.platform.auth import (
    SUPERUSER_ROLE,
    ensure_secret_key,
    mint_token,
    secret_key,
    superuser_token,
    token_expiry,
    token_needs_renewal,
)
from peacewatch.platform.errors import PeacewatchError, TokenError
from peacewatch.platform.settings import Settings
from peacewatch.platform.steps import Exactly, same
from peacewatch.tenants.pulsar_steps import namespace_permissions, namespace_policies, topic_permissions
from peacewatch.tenants.spec import OffloadSpec, RolesSpec, TenantSpec, load_spec

EXAMPLES = Path(__file__).parents[2] / "tenants" / "examples"


def test_example_specs_load_and_differ() -> None:
    north = load_spec(EXAMPLES / "north-precinct.yaml")
    south = load_spec(EXAMPLES / "south-precinct.yaml")
    assert (north.name, north.alerting.threshold, north.alerting.cooldown_s) == ("north-precinct", 20, 0)
    assert (south.name, south.alerting.threshold, south.alerting.cooldown_s) == ("south-precinct", 25, 600)
    assert south.role("fleet") == "south-precinct-fleet"  # default role name
    assert load_spec(EXAMPLES / "north-precinct.yaml") == north


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: North Precinct\ndisplay_name: x\n", "name: Value error, invalid tenant name"),
        ("name: ok-force\n", "display_name: Field required"),
        (
            "name: ok-force\ndisplay_name: x\npartitions: 0\n",
            "partitions: Input should be greater than or equal to 1",
        ),
        ("name: ok-force\ndisplay_name: x\nbacklog_quota_mb: 20000\n", "backlog_quota_mb is not supported"),
        ("name: ok-force\ndisplay_name: x\nmessage_ttl_s: 3600\n", "a TTL would expire reports the lake"),
        ("name: ok-force\ndisplay_name: x\nretension: {}\n", "retension: Extra inputs are not permitted"),
        ("name: [oops\n", "is not valid YAML"),
        ("- a\n- b\n", "a tenant spec is a mapping"),
    ],
)
def test_bad_specs_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(PeacewatchError, match=message) as err:
        load_spec(path)
    assert str(err.value).startswith(str(path))
    assert "\n" not in str(err.value)


def test_same_compares_what_is_wanted_only() -> None:
    assert same({"a": 1, "extra": 2}, {"a": 1})  # the broker adds fields of its own
    assert not same({"a": 2}, {"a": 1})
    assert not same(None, {"a": 1})
    assert same(["consume", "produce"], ["produce", "consume"])  # order of actions is not meaningful
    assert not same(["produce"], ["produce", "consume"])
    assert same({"q": {"limitSize": 5, "limitTime": -1}}, {"q": {"limitSize": 5}})
    assert same(True, True)
    assert not same(None, True)


def test_wanted_policies_follow_the_spec() -> None:
    settings = Settings(bucket_prefix="pw-")
    spec = TenantSpec(
        name="east-force", display_name="East", offload=OffloadSpec(threshold_mb=2, deletion_lag_minutes=3)
    )
    policies = namespace_policies(spec, settings)
    assert policies["offloadThreshold"] == 2 * 1024 * 1024
    offload = policies["offloadPolicies"]
    assert offload["managedLedgerOffloadBucket"] == "pw-east-force"  # the force's own bucket
    assert offload["managedLedgerOffloadServiceEndpoint"] == settings.minio.url
    assert offload["managedLedgerOffloadDeletionLagInMillis"] == 180_000
    assert "Credential" not in str(offload)  # keys stay in the broker's environment
    assert policies["deduplication"] is True
    assert policies["isAllowAutoUpdateSchema"] is False
    never = TenantSpec(name="east-force", display_name="E", offload=OffloadSpec(threshold_mb=-1))
    off = namespace_policies(never, settings)
    assert off["offloadThreshold"] == -1


def test_permissions_give_each_role_only_its_job() -> None:
    spec = TenantSpec(name="east-force", display_name="East", roles=RolesSpec(officer="east-desk"))
    grants = topic_permissions(spec, "g1")
    by_role: dict[str, set[tuple[str, str]]] = {}
    for topic, roles in grants.items():
        for role, actions in roles.items():
            by_role.setdefault(role, set()).update((topic.rsplit("/", 1)[1], a) for a in actions)
    assert by_role["east-force-fleet.g1"] == {("reports", "produce")}
    assert by_role["east-desk.g1"] == {("alerts", "consume"), ("alert-log", "consume")}
    assert by_role["east-force-lake.g1"] == {
        ("reports", "consume"),
        ("alerts", "consume"),
        ("reports-dlq", "produce"),
    }
    assert by_role["east-force-alerting.g1"] == {
        ("reports", "consume"), ("alerts", "produce"), ("alert-log", "produce"), ("reports-dlq", "produce"),
    }  # fmt: skip
    assert not any("analyst" in role for role in by_role)  # analysts read the lake, not topics
    assert all(t.startswith("persistent://east-force/drones/") for t in grants)
    assert namespace_permissions(spec, "g1") == {"east-force-alerting.g1": ["functions"]}
    # A new onboarding generation: none of the old roles is granted anything.
    later = {r for roles in topic_permissions(spec, "g2").values() for r in roles}
    assert not later & set(by_role)


def test_exact_grants_see_an_extra_role_as_a_difference() -> None:
    wanted = {"a.g2": ["consume"]}
    assert same(Exactly({"a.g2": ["consume"]}), Exactly(wanted))
    assert not same(Exactly({"a.g2": ["consume"], "a.g1": ["consume"]}), Exactly(wanted))


def test_tokens_expire_and_the_platform_token_is_signed_with_the_stack_key(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    with pytest.raises(TokenError, match="stack up"):
        secret_key(settings)
    key = ensure_secret_key(settings)
    assert len(key) == 32
    assert (tmp_path / "secrets" / "pulsar-token-secret.key").stat().st_mode & 0o777 == 0o600
    assert ensure_secret_key(settings) == key  # generated once
    claims = jwt.decode(superuser_token(settings) or "", key, algorithms=["HS256"])
    assert claims["sub"] == SUPERUSER_ROLE
    assert claims["exp"] > claims["iat"]  # even the platform's own token expires
    officer = mint_token(key, role="east-force-officer.g1", expires_in=timedelta(hours=12))
    assert token_expiry(officer) is not None
    assert not token_needs_renewal(officer, lifetime=timedelta(hours=12))
    assert token_needs_renewal(officer, lifetime=timedelta(days=2))  # past half of a 2-day life
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            mint_token(b"another key entirely, 32 bytes!!", role="x", expires_in=None),
            key,
            algorithms=["HS256"],
        )


def test_a_lost_key_beside_a_token_in_use_is_a_clear_error(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    ensure_secret_key(settings)
    (tmp_path / "secrets" / "pulsar-token-secret.key").unlink()
    with pytest.raises(TokenError, match="rotate-key"):
        ensure_secret_key(settings)  # not a new key that makes every token in use worthless


# -- every bound of a spec, declared once -------------------------------------------------------
Bound = tuple[tuple[str, ...], str, float]


def _numeric_bounds(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[Bound]:
    """(field path, 'ge' | 'le', bound) for every numeric field of the spec, nested specs included."""
    out: list[Bound] = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out += _numeric_bounds(annotation, (*prefix, name))
            continue
        for meta in info.metadata:
            for kind in ("ge", "le"):
                if getattr(meta, kind, None) is not None:
                    out.append(((*prefix, name), kind, getattr(meta, kind)))
    return out


BOUNDS = _numeric_bounds(TenantSpec)


def _spec_with(path: tuple[str, ...], value: float) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": "bound-check", "display_name": "Bound check"}
    node = spec
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return spec


def test_the_bounds_cover_the_alert_settings() -> None:
    paths = {".".join(p) for p, _, _ in BOUNDS}
    assert {"alerting.threshold", "alerting.cooldown_s", "alerting.parallelism", "partitions"} <= paths


@pytest.mark.parametrize(("path", "kind", "bound"), BOUNDS, ids=[f"{'.'.join(p)}-{k}" for p, k, _ in BOUNDS])
@given(past=st.one_of(st.integers(1, 10**6), st.floats(0.001, 1e6)))
def test_a_spec_at_a_bound_onboards_and_one_past_it_is_refused_in_one_line(
    tmp_path_factory: pytest.TempPathFactory, path: tuple[str, ...], kind: str, bound: float, past: float
) -> None:
    """At the bound, the spec loads and the alert function's config derived from it is accepted
    (what onboarding deploys); past it, `load_spec` refuses it naming the field - before
    `tenants plan` shows anything, never inside onboarding."""
    folder = tmp_path_factory.mktemp("specs")
    field = path[-1]
    at = _spec_with(path, bound)
    (folder / "at.yaml").write_text(yaml.safe_dump(at))
    spec = load_spec(folder / "at.yaml")
    AlertConfig.from_user_config(spec.alerting.function_config(source_id=None).user_config())
    beyond = bound - past if kind == "ge" else bound + past
    (folder / "past.yaml").write_text(yaml.safe_dump(_spec_with(path, beyond)))
    with pytest.raises(PeacewatchError, match=field) as refused:
        load_spec(folder / "past.yaml")
    assert "\n" not in str(refused.value)


def test_the_charts_values_schema_has_the_specs_bounds() -> None:
    """The chart validates `tenants` before the onboarding Job runs: with the very same bounds."""
    schema = json.loads((Path(__file__).parents[2] / "helm/peacewatch/values.schema.json").read_text())
    tenant = schema["properties"]["tenants"]["items"]
    for path, kind, bound in BOUNDS:
        node = tenant
        for key in path:
            node = node["properties"][key]
        assert node["minimum" if kind == "ge" else "maximum"] == bound, ".".join(path)
