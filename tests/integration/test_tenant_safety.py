"""Tenant safety on the real stack: removal touches only what peacewatch onboarded, a force admin's
function holds no platform secret, tokens die with their force's generation, analysts cannot
write, and the local stack refuses clashing ports and stray pid files."""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psutil
import pulsar
import pytest
from minio import Minio
from minio.error import S3Error

from peacewatch.functions.deploy.worker import FunctionSpec, deploy_function, wait_running
from peacewatch.platform.auth import mint_token, secret_key, secret_key_path, superuser_token
from peacewatch.platform.clients import pulsar_client
from peacewatch.platform.contract import Citizen, Report
from peacewatch.platform.credentials import platform_minio, read_kit_credentials, read_kit_token
from peacewatch.platform.errors import StackError
from peacewatch.platform.java_build import build_jar, lib_jar
from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.schema_registry import ContractSchema
from peacewatch.platform.settings import MinioSettings, PulsarSettings, Settings
from peacewatch.platform.stack.install import pulsar_home
from peacewatch.platform.stack.manager import Stack
from peacewatch.platform.stack.minio import offload_credentials
from peacewatch.platform.stack.process import ManagedProcess
from peacewatch.platform.topics import TenantTopics

from .conftest import cli_env, free_port, onboard

pytestmark = pytest.mark.integration

PROBE = Path(__file__).with_name("functions") / "probe.py"
JAVA_PROBE = Path(__file__).with_name("functions") / "java" / "probe" / "Probe.java"


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "peacewatch.cli.app", *args],
                          env=cli_env(settings), capture_output=True, text=True, timeout=180)  # fmt: skip


def _report(score: int = 90) -> bytes:
    return Report(
        report_id=uuid.uuid4(), drone_id="d-1", ts=datetime.now(UTC), lat=48.85, lon=2.35, battery_pct=80.0,
        citizens=[Citizen(citizen_id="c-1", name="Ada Baker", peacescore=score)], words=["hello"],
    ).to_json()  # fmt: skip


def _can_produce(settings: Settings, tenant: str, token: str) -> bool:
    """Whether `token` may publish a report to the force. A refused token shows as an
    authorization error, or (bad signature: the client keeps retrying) as a timeout."""
    client = pulsar.Client(
        settings.pulsar.service_url, authentication=pulsar.AuthenticationToken(token),
        operation_timeout_seconds=10, logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Error),
    )  # fmt: skip
    try:
        producer = client.create_producer(TenantTopics(tenant).reports, schema=ContractSchema(Report))
        producer.send(_report())
        producer.close()
        return True
    except (pulsar.AuthorizationError, pulsar.AuthenticationError, pulsar.ConnectError, pulsar.Timeout):
        return False
    finally:
        client.close()


# -- 1. removal --------------------------------------------------------------------------------


def test_remove_refuses_pulsars_own_and_foreign_tenants(
    stack: Stack, settings: Settings, admin: PulsarAdmin, tenant_names: tuple[str, str]
) -> None:
    foreign = tenant_names[0]
    admin.create_tenant(foreign, admin_roles=[], clusters=admin.clusters())  # made by hand, not by us
    admin.create_namespace(f"{foreign}/drones")
    try:
        for name in ("public", "pulsar", foreign):
            for extra in ([], ["--purge"]):
                proc = _cli(settings, "tenants", "remove", name, *extra)
                assert proc.returncode == 1, proc.stdout
                lines = proc.stderr.strip().splitlines()
                assert len(lines) == 1, proc.stderr
                assert "error:" in lines[0]
                assert name in lines[0]
        assert admin.get_tenant("public") is not None
        assert "public/functions" in admin.namespaces("public")  # the worker's own topics
        assert admin.get_tenant(foreign) is not None
        assert f"{foreign}/drones" in admin.namespaces(foreign)
    finally:
        admin.delete_namespace(f"{foreign}/drones", force=True)
        admin.delete_tenant(foreign, force=True)


# -- 2. no secret in function instances --------------------------------------------------------


def _platform_secrets(settings: Settings, tenants: tuple[str, ...]) -> dict[str, str]:
    found = {
        "minio root": platform_minio(settings).secret_key,
        "signing key": secret_key(settings).decode("latin-1"),
        "superuser token": superuser_token(settings) or "",
    }
    offload = offload_credentials(settings)
    if offload is not None:
        found["offload key"] = offload.secret_key
    for t in tenants:
        for kit in ("lake", "analyst", "upkeep"):
            found[f"{t} {kit} key"] = read_kit_credentials(settings, t, kit).secret_key  # type: ignore[arg-type]
        for kit in ("lake", "fleet", "officer", "alerting"):
            found[f"{t} {kit} token"] = read_kit_token(settings, t, kit)  # type: ignore[arg-type]
    return found


def _java_probe(settings: Settings, out: Path) -> Path:
    """probe/Probe.java compiled against the distribution's functions API, as a jar."""
    lib = pulsar_home(settings) / "lib"
    api = [lib_jar(lib, a) for a in ("pulsar-functions-api", "pulsar-client-api")]
    return build_jar(
        out_dir=out, name="probe", what="the probe function", sources=[JAVA_PROBE], classpath=api
    )


@pytest.mark.hostile
@pytest.mark.parametrize("runtime", ["PYTHON", "JAVA"])
def test_a_force_admins_function_sees_no_platform_secret(
    stack: Stack, settings: Settings, admin: PulsarAdmin, tenant_names: tuple[str, str], runtime: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    """Both runtimes sandboxed (issue 33: Java instances - the default - ran as the broker's user
    with its environment, the offload keys and the signing key in reach)."""
    tenant, other = tenant_names
    onboard(settings, admin, tenant, partitions=1, admin_roles=[f"{tenant}-admin"])
    onboard(settings, admin, other, partitions=1)
    force_admin_token = mint_token(
        secret_key(settings), role=f"{tenant}-admin", expires_in=timedelta(hours=1)
    )
    run = uuid.uuid4().hex[:6]
    spec = FunctionSpec(
        tenant=tenant, namespace="drones", name=f"probe-{run}", class_name="probe.Probe", runtime=runtime,
        inputs=[f"persistent://{tenant}/drones/probe-in-{run}"],
        subscription_position="Earliest",  # a JVM subscribes seconds after `running`: keep what came
        output=f"persistent://{tenant}/drones/probe-out-{run}",
    )  # fmt: skip
    assert spec.output is not None
    with PulsarAdmin(web_url=settings.pulsar.web_url, token=force_admin_token) as as_force_admin:
        as_force_admin.create_topic(spec.inputs[0])
        as_force_admin.create_topic(spec.output)
        package = PROBE if runtime == "PYTHON" else _java_probe(settings, tmp_path)
        deploy_function(as_force_admin, spec, package=package)  # the tenant admin may do this
        try:
            wait_running(as_force_admin, spec)
            # The instance's token is on no command line any process of the host can read (`ps`):
            # Pulsar's own provider put `token:...` there (issue 33).
            on_command_lines = [p.pid for p in psutil.process_iter(["cmdline"])
                                if force_admin_token in " ".join(p.info["cmdline"] or ())]  # fmt: skip
            assert on_command_lines == []
            client = pulsar_client(settings, token=force_admin_token)
            try:
                out = client.subscribe(spec.output, "probe", initial_position=pulsar.InitialPosition.Earliest)
                state = settings.state_dir.resolve()
                look_at = [str(state), str(state.parent), str(secret_key_path(settings))]
                asked = json.dumps(look_at) if runtime == "PYTHON" else "\n".join(look_at)
                client.create_producer(spec.inputs[0]).send(asked.encode())
                seen = json.loads(out.receive(timeout_millis=60_000).data())
            finally:
                client.close()
        finally:
            as_force_admin.delete_function(tenant, "drones", spec.name)

    blob = json.dumps(seen, ensure_ascii=False)  # as read: a binary key is matched byte for byte
    assert seen["env"].get("PATH")  # the probe did run and report
    assert seen["files"]
    # In a PID namespace of its own: it sees its own processes only (a handful), not the host's.
    assert len(seen["procs"]) < 10, sorted(seen["procs"])
    leaked = [what for what, secret in _platform_secrets(settings, (tenant, other)).items() if secret in blob]
    assert leaked == []
    assert not any(k.startswith(("MINIO_", "ACCESS_KEY", "AWS_")) for k in seen["env"])
    assert str(secret_key_path(settings)) not in seen["files"] or seen["files"][
        str(secret_key_path(settings))
    ].startswith("<")  # not readable


# -- 3. tokens ---------------------------------------------------------------------------------


def test_a_removed_and_re_onboarded_force_refuses_its_old_tokens(
    stack: Stack, settings: Settings, admin: PulsarAdmin, tenant_names: tuple[str, str]
) -> None:
    tenant = tenant_names[0]
    onboard(settings, admin, tenant, partitions=1)
    issued = _cli(settings, "tenants", "token", tenant, "--role", "fleet")
    assert issued.returncode == 0, issued.stderr
    old_token = issued.stdout.strip()
    assert "expires" in issued.stderr
    assert _can_produce(settings, tenant, old_token)

    removed = _cli(settings, "tenants", "remove", tenant, "--purge")
    assert removed.returncode == 0, removed.stderr
    onboard(settings, admin, tenant, partitions=1)

    assert not _can_produce(settings, tenant, old_token)  # signed, unexpired, but for the old generation
    assert _can_produce(settings, tenant, read_kit_token(settings, tenant, "fleet"))


# -- 4. analysts read ----------------------------------------------------------------------------


def test_the_analyst_identity_reads_but_cannot_delete_or_overwrite(
    stack: Stack, settings: Settings, admin: PulsarAdmin, tenant_names: tuple[str, str]
) -> None:
    tenant = tenant_names[0]
    onboard(settings, admin, tenant, partitions=1)
    creds = read_kit_credentials(settings, tenant, "analyst")
    m = settings.minio
    s3 = Minio(m.endpoint, access_key=creds.access_key, secret_key=creds.secret_key, secure=False,
               region=m.region)  # fmt: skip
    bucket = settings.tenant_bucket(tenant)
    first_commit = "lake/reports/_delta_log/00000000000000000000.json"
    assert s3.get_object(bucket, first_commit).read()  # reads its force's lake

    with pytest.raises(S3Error) as overwrite:
        s3.put_object(bucket, first_commit, io.BytesIO(b"{}"), length=2)
    assert overwrite.value.code == "AccessDenied"
    with pytest.raises(S3Error) as new_file:
        s3.put_object(bucket, "lake/reports/part-x.parquet", io.BytesIO(b"PAR1"), length=4)
    assert new_file.value.code == "AccessDenied"
    with pytest.raises(S3Error) as delete:
        s3.remove_object(bucket, first_commit)
    assert delete.value.code == "AccessDenied"
    assert s3.get_object(bucket, first_commit).read()  # still there, unchanged

    # Only the upkeep identity deletes; the sink's identity writes but cannot delete either.
    lake = read_kit_credentials(settings, tenant, "lake")
    writer = Minio(m.endpoint, access_key=lake.access_key, secret_key=lake.secret_key, secure=False,
                   region=m.region)  # fmt: skip
    with pytest.raises(S3Error) as sink_delete:
        writer.remove_object(bucket, first_commit)
    assert sink_delete.value.code == "AccessDenied"


@pytest.mark.hostile
def test_each_of_a_forces_kits_is_refused_everything_of_another_force(
    stack: Stack, settings: Settings, admin: PulsarAdmin, tenant_names: tuple[str, str]
) -> None:
    """Every kit of force A against force B: its reports, its admin REST API, its bucket."""
    a, b = tenant_names
    onboard(settings, admin, a, partitions=1)
    onboard(settings, admin, b, partitions=1)
    for kit in ("fleet", "lake", "officer", "alerting"):
        token = read_kit_token(settings, a, kit)  # type: ignore[arg-type]
        assert not _can_produce(settings, b, token), kit
        for path in (
            f"/admin/v2/namespaces/{b}/drones",
            f"/admin/v2/namespaces/{b}/drones/properties",
            f"/admin/v2/persistent/{b}/drones/reports/partitions",
            f"/admin/v3/functions/{b}/drones",
        ):
            got = httpx.get(settings.pulsar.web_url + path, headers={"Authorization": f"Bearer {token}"},
                            timeout=30)  # fmt: skip
            assert got.status_code in (401, 403), (kit, path, got.status_code)
    m = settings.minio
    for kit in ("lake", "analyst", "upkeep"):
        creds = read_kit_credentials(settings, a, kit)  # type: ignore[arg-type]
        s3 = Minio(m.endpoint, access_key=creds.access_key, secret_key=creds.secret_key, secure=False,
                   region=m.region)  # fmt: skip
        assert _s3_refusals(s3, settings.tenant_bucket(b)) == dict.fromkeys(_S3_ATTEMPTS, "AccessDenied"), kit


_S3_ATTEMPTS = ("list", "get", "put", "delete")
_FIRST_COMMIT = "lake/reports/_delta_log/00000000000000000000.json"


def _s3_refusals(s3: Minio, bucket: str) -> dict[str, str | None]:
    """The error code of each attempt on `bucket` (None: it was allowed)."""
    attempts = {
        "list": lambda: list(s3.list_objects(bucket, recursive=True)),
        "get": lambda: s3.get_object(bucket, _FIRST_COMMIT),
        "put": lambda: s3.put_object(bucket, "lake/x.json", io.BytesIO(b"{}"), length=2),
        "delete": lambda: s3.remove_object(bucket, _FIRST_COMMIT),
    }
    codes: dict[str, str | None] = {}
    for what, attempt in attempts.items():
        try:
            attempt()
            codes[what] = None
        except S3Error as exc:
            codes[what] = exc.code
    return codes


# -- 6. the local stack ------------------------------------------------------------------------


def _scratch_settings(tmp_path: Path, **pulsar_ports: int) -> Settings:
    ports = {name: free_port() for name in
             ("broker_port", "web_port", "bookie_port", "zookeeper_port", "stream_storage_port")}  # fmt: skip
    ports.update(pulsar_ports)
    return Settings(
        state_dir=tmp_path / "state",
        pulsar=PulsarSettings(**ports),
        minio=MinioSettings(port=free_port(), console_port=free_port()),
    )


@pytest.mark.parametrize("taken", ["bookie_port", "zookeeper_port", "stream_storage_port"])
def test_stack_up_refuses_any_taken_pulsar_port_before_starting_anything(
    stack: Stack, tmp_path: Path, taken: str
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        settings = _scratch_settings(tmp_path, **{taken: int(squatter.getsockname()[1])})
        scratch = Stack(settings=settings)
        with pytest.raises(StackError, match=str(squatter.getsockname()[1])):
            scratch.up()
    assert all(s.pid is None for s in scratch.status())  # MinIO was not started either


def test_a_malformed_pid_file_is_a_clear_error(stack: Stack, tmp_path: Path) -> None:
    settings = _scratch_settings(tmp_path)
    settings.run_dir.mkdir(parents=True)
    (settings.run_dir / "pulsar.pid").write_text("12345\n")  # not the record `stack up` writes
    proc = _cli_with_state(settings, "stack", "status")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "pulsar.pid" in proc.stderr
    assert "delete the file" in proc.stderr


def _cli_with_state(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**cli_env(settings), "PEACEWATCH_STATE_DIR": str(settings.state_dir), "COLUMNS": "300"}
    return subprocess.run([sys.executable, "-m", "peacewatch.cli.app", *args],
                          env=env, capture_output=True, text=True, timeout=60)  # fmt: skip


def test_stop_also_stops_children_whose_group_leader_died(tmp_path: Path) -> None:
    managed = ManagedProcess("orphans", tmp_path / "run", tmp_path / "logs")
    # The leader starts a long-lived child in its group and exits at once, as a JVM killed -9
    # leaves its function instances behind.
    leader = managed.start(
        ["sh", "-c", "sleep 300 & echo $! > child.pid"], env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path
    )
    # Reaped: gone from /proc, as a dead leader is for `stack down`. Popen's finalizer may have
    # reaped it already (sh exits at once; start() drops its Popen): then waitpid has no child.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(leader, 0)
    deadline = time.monotonic() + 10
    while not (tmp_path / "child.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    child = int((tmp_path / "child.pid").read_text())
    assert managed.pid() is None  # the leader is gone
    assert Path(f"/proc/{child}").exists()
    assert managed.stop(timeout_s=5) is True
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}/stat").exists() and " Z " not in Path(f"/proc/{child}/stat").read_text():
        assert time.monotonic() < deadline, "the orphaned child still runs"
        time.sleep(0.1)
    assert not managed.pid_file.exists()
