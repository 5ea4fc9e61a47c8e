"""Police forces as tenants on the real stack: onboarding end to end, isolation between forces
(broker authorization, MinIO policies, Spark), tiered storage into the force's bucket, removal."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pulsar
import pytest
from deltalake import DeltaTable
from minio import Minio
from minio.error import S3Error

from peacewatch.lakehouse.access import LakeAccess, minio_user
from peacewatch.lakehouse.lake import lake_table
from peacewatch.lakehouse.query.spark import spark_session
from peacewatch.platform.auth import mint_token, secret_key
from peacewatch.platform.clients import kit_client
from peacewatch.platform.contract import Citizen, Report
from peacewatch.platform.credentials import MINIO_KITS, read_kit_credentials
from peacewatch.platform.onboarded import current_generation
from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.schema_registry import ContractSchema
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.manager import Stack
from peacewatch.platform.topics import TenantTopics
from peacewatch.tenants.onboarding import plan_steps
from peacewatch.tenants.spec import AlertingSpec, OffloadSpec, TenantSpec

from .conftest import cli_env, onboard

pytestmark = pytest.mark.integration


def _report(drone: str, score: int) -> bytes:
    return Report(
        report_id=uuid.uuid4(), drone_id=drone, ts=datetime.now(UTC), lat=48.85, lon=2.35, battery_pct=80.0,
        citizens=[Citizen(citizen_id="c-9", name="Ada Baker", peacescore=score)], words=["hello"],
    ).to_json()  # fmt: skip


def _auth_refusals(settings: Settings) -> list[str]:
    log = (settings.logs_dir / "pulsar.out").read_text(errors="replace")
    return [line for line in log.splitlines() if "Failed to authenticate" in line]


def _as_s3(settings: Settings, tenant: str) -> Minio:
    creds = read_kit_credentials(settings, tenant, "lake")
    m = settings.minio
    return Minio(m.endpoint, access_key=creds.access_key, secret_key=creds.secret_key, secure=False,
                 region=m.region)  # fmt: skip


def test_onboarding_end_to_end_and_apply_twice_changes_nothing(
    stack: Stack, settings: Settings, admin: PulsarAdmin, tenant_names: tuple[str, str], tmp_path: Path
) -> None:
    tenant = tenant_names[0]
    spec = TenantSpec(name=tenant, display_name="Test Force", partitions=3,
                      alerting=AlertingSpec(threshold=30), admin_roles=[f"{tenant}-admin"])  # fmt: skip
    lake = LakeAccess(settings)
    steps = plan_steps(settings, admin, lake, spec)
    assert all(s.needed for s in steps)
    spec_file = tmp_path / f"{tenant}.yaml"
    spec_file.write_text(spec.to_yaml())

    def apply_cli() -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "peacewatch.cli.app", "tenants", "apply", str(spec_file)]
        env = {**cli_env(settings), "COLUMNS": "200"}
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)

    first = apply_cli()
    assert first.returncode == 0, first.stderr
    assert f"{tenant}: {len(steps)} changes applied" in first.stdout
    second = apply_cli()  # applying the same spec again changes nothing
    assert second.returncode == 0, second.stderr
    assert f"{tenant}: up to date ({len(steps)} steps checked)" in second.stdout
    assert [s.what for s in plan_steps(settings, admin, lake, spec) if s.needed] == []

    ns = f"{tenant}/drones"
    topics = TenantTopics(tenant)
    assert admin.get_tenant(tenant)["adminRoles"] == [f"{tenant}-admin"]
    assert admin.partitions(topics.reports) == 3
    assert admin.get_namespace_policy(ns, "retention") == {
        "retentionTimeInMinutes": 10080,
        "retentionSizeInMB": 10240,
    }
    assert admin.get_namespace_policy(ns, "messageTTL") in (None, 0)  # nothing expires before the lake has it
    assert admin.get_namespace_policy(ns, "deduplication") is True
    assert admin.get_namespace_policy(ns, "schemaCompatibilityStrategy") == "BACKWARD_TRANSITIVE"
    offload = admin.get_namespace_policy(ns, "offloadPolicies")
    assert offload["s3ManagedLedgerOffloadBucket"] == f"peacewatch-{tenant}"
    assert offload["s3ManagedLedgerOffloadServiceEndpoint"] == settings.minio.url
    generation = current_generation(admin, tenant, signing_key=secret_key(settings))
    assert admin.topic_permissions(topics.reports)[f"{tenant}-fleet.{generation}"] == ["produce"]
    for kit in MINIO_KITS:
        assert lake.user_policy(tenant, kit) == minio_user(tenant, kit)
    for name in ("reports", "alerts"):
        where = lake_table(settings, tenant=tenant, name=name)
        assert DeltaTable(where.uri, storage_options=where.storage_options).count() == 0

    # The force works as its roles: a drone report with a bad score becomes an alert an officer reads.
    fleet = kit_client(settings, tenant=tenant, kit="fleet")
    officer = kit_client(settings, tenant=tenant, kit="officer")
    try:
        alerts = officer.subscribe(
            topics.alerts, "officer-desk", initial_position=pulsar.InitialPosition.Earliest
        )
        producer = fleet.create_producer(topics.reports, schema=ContractSchema(Report))
        producer.send(_report("d-1", 25), partition_key="d-1")  # 25 < the force's threshold of 30
        msg = alerts.receive(timeout_millis=60_000)
        assert b'"peacescore":25' in msg.data()
        assert b'"threshold":30' in msg.data()
    finally:
        fleet.close()
        officer.close()

    # Idle topics stay (the broker deletes idle topics without subscriptions after a minute), and
    # one deleted anyway comes back with its grants at the next apply.
    assert admin.get_namespace_policy(ns, "inactiveTopicPolicies")["deleteWhileInactive"] is False
    grants = admin.topic_permissions(topics.alert_log)
    assert admin.delete_topic(topics.alert_log, partitioned=False)
    assert admin.topic_permissions(topics.alert_log) == {}
    again = apply_cli()
    assert again.returncode == 0, again.stderr
    assert admin.topic_permissions(topics.alert_log) == grants

    # The CLI agrees: nothing to change.
    proc = subprocess.run([sys.executable, "-m", "peacewatch.cli.app", "tenants", "show", tenant],
                          env=cli_env(settings), capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "display_name: Test Force" in proc.stdout
    assert f"{tenant}: up to date" in proc.stdout


@pytest.fixture
def two_forces(
    stack: Stack, settings: Settings, admin: PulsarAdmin, tenant_names: tuple[str, str]
) -> tuple[str, str]:
    a, b = tenant_names
    for t in (a, b):
        onboard(settings, admin, t, partitions=2)
    return a, b


def test_a_force_cannot_touch_another_forces_topics(settings: Settings, two_forces: tuple[str, str]) -> None:
    a, b = two_forces
    ta, tb = TenantTopics(a), TenantTopics(b)
    schema = ContractSchema(Report)
    fleet_a = kit_client(settings, tenant=a, kit="fleet")
    officer_a = kit_client(settings, tenant=a, kit="officer")
    try:
        fleet_a.create_producer(ta.reports, schema=schema).close()  # its own reports: allowed
        officer_a.subscribe(ta.alerts, "desk").close()  # its own alerts: allowed
        with pytest.raises(pulsar.AuthorizationError):
            fleet_a.create_producer(tb.reports, schema=schema)  # another force's reports
        with pytest.raises(pulsar.AuthorizationError):
            officer_a.subscribe(tb.alerts, "desk")  # another force's alerts
        with pytest.raises(pulsar.AuthorizationError):
            officer_a.subscribe(tb.alert_log, "desk")
        with pytest.raises(pulsar.AuthorizationError):
            fleet_a.subscribe(ta.alerts, "peek")  # drones do not read alerts
        with pytest.raises(pulsar.AuthorizationError):
            officer_a.create_producer(ta.reports, schema=schema)  # officers do not forge reports
    finally:
        for c in (fleet_a, officer_a):
            c.close()
    # No token, or a token signed with another key: the broker refuses the connection (the C++
    # client keeps retrying until its operation timeout, so the refusal is read from the broker).
    forged_token = mint_token(b"not the broker's secret key, 32b", role=f"{a}-fleet", expires_in=None)
    refusals = _auth_refusals(settings)
    for auth in (None, pulsar.AuthenticationToken(forged_token)):
        quiet = pulsar.ConsoleLogger(pulsar.LoggerLevel.Error)
        url = settings.pulsar.service_url
        outsider = pulsar.Client(url, authentication=auth, operation_timeout_seconds=3, logger=quiet)
        try:
            with pytest.raises((pulsar.AuthenticationError, pulsar.Timeout)):
                outsider.create_producer(ta.reports, schema=schema)
        finally:
            outsider.close()
    new = _auth_refusals(settings)[len(refusals) :]
    assert any("principal=null" in line and "No anonymous role" in line for line in new), new
    assert any(
        "principal=null" not in line or "JWT" in line or "signature" in line.lower() for line in new
    ), new
    assert httpx.get(f"{settings.pulsar.web_url}/admin/v2/tenants/{a}").status_code == 401


def test_a_force_cannot_read_another_forces_lake(settings: Settings, two_forces: tuple[str, str]) -> None:
    a, b = two_forces
    s3_a = _as_s3(settings, a)
    own = [
        o.object_name for o in s3_a.list_objects(settings.tenant_bucket(a), prefix="lake/", recursive=True)
    ]
    assert any(name.endswith(".json") for name in own)  # its own Delta logs
    with pytest.raises(S3Error) as listing:
        list(s3_a.list_objects(settings.tenant_bucket(b), recursive=True))
    assert listing.value.code == "AccessDenied"
    with pytest.raises(S3Error) as reading:
        s3_a.get_object(settings.tenant_bucket(b), "lake/reports/_delta_log/00000000000000000000.json")
    assert reading.value.code == "AccessDenied"
    assert [bucket.name for bucket in s3_a.list_buckets()] == [settings.tenant_bucket(a)]  # sees only its own

    # Spark, opened as force A, reads A's Delta table and is refused B's.
    analyst_a = read_kit_credentials(settings, a, "analyst")
    spark = spark_session(settings, app_name="isolation-test", credentials=analyst_a)
    try:
        own_uri = lake_table(settings, tenant=a, name="reports").uri.replace("s3://", "s3a://")
        other_uri = lake_table(settings, tenant=b, name="reports").uri.replace("s3://", "s3a://")
        assert spark.sql(f"SELECT count(*) AS n FROM delta.`{own_uri}`").first()["n"] == 0
        with pytest.raises(Exception, match=r"(?i)403|AccessDenied|Forbidden"):
            spark.sql(f"SELECT count(*) AS n FROM delta.`{other_uri}`").collect()
    finally:
        spark.stop()


def test_old_ledgers_offload_to_the_forces_bucket_and_stay_readable(
    stack: Stack, settings: Settings, admin: PulsarAdmin, tenant_names: tuple[str, str]
) -> None:
    tenant, other = tenant_names
    onboard(settings, admin, other, partitions=1)
    onboard(
        settings, admin, tenant, partitions=1, offload=OffloadSpec(threshold_mb=0, deletion_lag_minutes=0)
    )
    topic = TenantTopics(tenant).reports
    client = kit_client(settings, tenant=tenant, kit="fleet")
    sent = []
    try:
        # No batching: one entry per report, and ledgers roll over every 100 entries (test stack).
        producer = client.create_producer(topic, schema=ContractSchema(Report), batching_enabled=False)
        for i in range(450):
            payload = _report(f"d-{i % 7}", 80)
            producer.send(payload, partition_key=f"d-{i % 7}")
            sent.append(payload)
        producer.close()
    finally:
        client.close()

    partition = f"{topic}-partition-0"
    deadline = time.monotonic() + 120
    offloaded: list[int] = []
    while time.monotonic() < deadline:
        ledgers = admin.internal_stats(partition)["ledgers"]
        offloaded = [led["ledgerId"] for led in ledgers if led.get("offloaded")]
        if len(offloaded) >= 3:
            break
        time.sleep(2)
    assert len(offloaded) >= 3, admin.internal_stats(partition)["ledgers"]

    s3 = LakeAccess(settings).s3
    in_bucket = [o.object_name or "" for o in s3.list_objects(settings.tenant_bucket(tenant), recursive=True)]
    for ledger in offloaded:
        assert any(f"ledger-{ledger}" in name for name in in_bucket), (ledger, in_bucket)
    for bucket in s3.list_buckets():
        if bucket.name != settings.tenant_bucket(tenant):
            names = [o.object_name or "" for o in s3.list_objects(bucket.name, recursive=True)]
            assert not [n for n in names if any(f"ledger-{led}" in n for led in offloaded)], bucket.name

    # A reader from the very beginning still gets every report, in order (the oldest from MinIO).
    reader_client = kit_client(settings, tenant=tenant, kit="lake")
    try:
        reader = reader_client.create_reader(partition, pulsar.MessageId.earliest)
        got = [reader.read_next(timeout_millis=30_000).data() for _ in range(len(sent))]
        reader.close()
    finally:
        reader_client.close()
    assert got == sent


def test_remove_refuses_data_without_purge_and_purge_removes_everything(
    stack: Stack, settings: Settings, admin: PulsarAdmin, tenant_names: tuple[str, str]
) -> None:
    tenant, empty = tenant_names
    onboard(settings, admin, tenant, partitions=1)
    onboard(settings, admin, empty, partitions=1)
    client = kit_client(settings, tenant=tenant, kit="fleet")
    producer = client.create_producer(TenantTopics(tenant).reports, schema=ContractSchema(Report))
    producer.send(_report("d-1", 90))
    producer.close()
    client.close()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "peacewatch.cli.app", "tenants", *args],
                              env=cli_env(settings), capture_output=True, text=True, timeout=120)  # fmt: skip

    refused = cli("remove", tenant)
    assert refused.returncode == 1
    assert "holds data" in refused.stderr
    assert "--purge" in refused.stderr
    assert admin.get_tenant(tenant) is not None  # nothing was removed

    lake = LakeAccess(settings)
    assert cli("remove", empty).returncode == 0  # an unused force goes without --purge
    assert admin.get_tenant(empty) is None
    assert not lake.bucket_exists(empty)

    purged = cli("remove", tenant, "--purge")
    assert purged.returncode == 0, purged.stderr
    assert admin.get_tenant(tenant) is None
    assert not lake.bucket_exists(tenant)
    assert all(lake.user_policy(tenant, kit) is None for kit in MINIO_KITS)
    assert all(lake.policy(tenant, kit) is None for kit in MINIO_KITS)
