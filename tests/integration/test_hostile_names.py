"""A hostile neighbour on the real broker: a force's own admin rewrites its record (Pulsar lets
it), and the platform refuses to act on it; a spec's names never reach another force (issue 33)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from peacewatch.platform.auth import mint_token, secret_key
from peacewatch.platform.errors import RecordNotAuthentic
from peacewatch.platform.onboarded import GENERATION_PROPERTY, SPEC_PROPERTY, Record, read_record
from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.manager import Stack
from peacewatch.tenants.onboarding import recorded_forces

from .conftest import cli_env, onboard

pytestmark = [pytest.mark.integration, pytest.mark.hostile]


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "peacewatch.cli.app", *args],
                          env=cli_env(settings), capture_output=True, text=True, timeout=180)  # fmt: skip


def test_a_force_admin_may_rewrite_its_record_and_the_platform_refuses_it(
    stack: Stack, settings: Settings, admin: PulsarAdmin, tenant_names: tuple[str, str], tmp_path: Path
) -> None:
    tenant, other = tenant_names
    onboard(settings, admin, tenant, partitions=1, admin_roles=[f"{tenant}-admin"])
    onboard(settings, admin, other, partitions=1)
    key = secret_key(settings)
    theirs = read_record(admin, other, signing_key=key)
    assert theirs is not None
    as_admin = mint_token(key, role=f"{tenant}-admin", expires_in=timedelta(hours=1))
    try:
        _forge_and_refuse(settings, admin, tenant=tenant, other=other, theirs=theirs, as_admin=as_admin,
                          tmp_path=tmp_path)  # fmt: skip
    finally:  # never leave a forged record behind: the session's key rotation reads every record
        try:
            read_record(admin, tenant, signing_key=key)
        except RecordNotAuthentic:
            admin.remove_namespace_policy(f"{tenant}/drones", "properties")  # PUT would merge


def _forge_and_refuse(
    settings: Settings, admin: PulsarAdmin, *, tenant: str, other: str, theirs: Record, as_admin: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    key = secret_key(settings)
    ns = f"{tenant}/drones"
    with PulsarAdmin(web_url=settings.pulsar.web_url, token=as_admin) as force_admin:
        props = force_admin.get_namespace_policy(ns, "properties")
        forged = json.loads(props[SPEC_PROPERTY])
        forged["roles"] = {"officer": f"{other}-officer"}  # the neighbour's officer, with its generation:
        props = {**props, SPEC_PROPERTY: json.dumps(forged), GENERATION_PROPERTY: theirs.generation}
        # Pulsar's authorizer lets a tenant admin set its namespace's properties: found out here.
        force_admin.set_namespace_policy(ns, "properties", props, method="PUT")
    assert admin.get_namespace_policy(ns, "properties")[GENERATION_PROPERTY] == theirs.generation

    with pytest.raises(RecordNotAuthentic):
        read_record(admin, tenant, signing_key=key)
    # What would mint the neighbour's officer token from it refuses, in one line.
    token = _cli(settings, "tenants", "token", tenant, "--role", "officer")
    assert token.returncode == 1, token.stderr
    assert "changed outside peacewatch" in token.stderr
    assert token.stdout == ""
    assert len(token.stderr.strip().splitlines()) == 1
    # ... and the key rotation's re-apply leaves it out (and says so), before it rotates anything.
    forces, refused = recorded_forces(settings)
    assert "changed outside peacewatch" in refused[tenant]
    assert tenant not in [f.spec.name for f in forces]
    assert other in [f.spec.name for f in forces]
    # `apply` with the operator's spec refuses too, until told to start the force's roles over.
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"name: {tenant}\ndisplay_name: {tenant}\npartitions: 1\nadmin_roles: [{tenant}-admin]\n")
    refused = _cli(settings, "tenants", "apply", str(spec))
    assert refused.returncode == 1
    assert "--new-generation" in refused.stderr
    fixed = _cli(settings, "tenants", "apply", str(spec), "--new-generation")
    assert fixed.returncode == 0, fixed.stderr
    record = read_record(admin, tenant, signing_key=key)
    assert record is not None
    assert record.generation != theirs.generation
    assert f"{other}-officer.{theirs.generation}" not in admin.namespace_permissions(ns)


def test_a_role_name_cannot_reach_another_force(
    stack: Stack, settings: Settings, admin: PulsarAdmin, tenant_names: tuple[str, str], tmp_path: Path
) -> None:
    """The spec seen to leave `x: [consume]` on another force's namespace: refused, nothing granted."""
    tenant, other = tenant_names
    onboard(settings, admin, other, partitions=1)
    before = admin.namespace_permissions(f"{other}/drones")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"name: {tenant}\ndisplay_name: x\nroles:\n"
        f"  officer: '../../../../../../v2/namespaces/{other}/drones/permissions/x#'\n"
    )
    out = _cli(settings, "tenants", "apply", str(spec))
    assert out.returncode == 1
    assert "invalid role name" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert admin.namespace_permissions(f"{other}/drones") == before
    assert admin.get_tenant(tenant) is None
