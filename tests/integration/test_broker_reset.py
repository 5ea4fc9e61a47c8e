"""A broker whose metadata was reset cannot make new reports look stored.

The test stack's Pulsar loses all its data (ZooKeeper and BookKeeper wiped: ledger ids start
low again) while the force's lake on MinIO keeps its tables and their recorded positions. The
force is onboarded again and its drones publish. Without topic identities the sink would take
the new, low positions for ones it stored long ago and skip every report, silently. It must
stop with a clear error instead, and after `peacewatch lake adopt-topic` store every new report.

This wipes the stack's broker: it runs last (marker destroys_broker_state).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys

import pulsar
import pytest

from peacewatch.platform.clients import pulsar_admin, pulsar_client
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.manager import Stack

from .conftest import cli_env, lake_rows, onboard, sink_process, wait_for_rows
from .test_lake_sink import _publish, _table_ids

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.destroys_broker_state]


def _lake(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "peacewatch.cli.app", "lake", *args],
        env={**cli_env(settings), "COLUMNS": "250"}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_reset_broker_stops_the_sink_until_the_new_topic_is_adopted(
    stack: Stack, settings: Settings, tenant_names: tuple[str, str]
) -> None:
    tenant = tenant_names[0]
    with pulsar_admin(settings) as admin:
        onboard(settings, admin, tenant, partitions=2)
    client = pulsar_client(settings)
    before = _publish(client, tenant, minutes=40, drones=50)
    client.close()
    sink = sink_process(settings, tenant, "before")
    try:
        wait_for_rows(settings, tenant, len(before.report_ids[tenant]), timeout_s=120)
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(timeout=60)
    assert lake_rows(settings, tenant) == 2_000

    # The broker loses everything; MinIO keeps the lake.
    pulsar_runner = stack._pulsar()
    pulsar_runner.process.stop()
    shutil.rmtree(pulsar_runner.dir / "data")
    shutil.rmtree(pulsar_runner.dir / "home" / "data")
    stack.up()
    with pulsar_admin(settings) as admin:
        onboard(settings, admin, tenant, partitions=2)  # onboarding again, as an operator would
    client = pulsar_client(settings)
    after = _publish(client, tenant, minutes=20, drones=50)
    reader = client.create_reader(
        f"persistent://{tenant}/drones/reports-partition-0", pulsar.MessageId.earliest
    )
    new_ledger = reader.read_next(10_000).message_id().ledger_id()
    reader.close()
    client.close()
    old_ledgers = {int(mid.strip("()").split(",")[0]) for mid in _message_ids(settings, tenant)}
    assert new_ledger < max(old_ledgers)  # the reset is real: new positions look old

    refused = subprocess.run(
        [sys.executable, "-m", "peacewatch.cli.app", "lake", "run", "-t", tenant, "--name", "after"],
        env=cli_env(settings), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "follows another incarnation" in refused.stderr
    assert "peacewatch lake adopt-topic" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert lake_rows(settings, tenant) == 2_000  # nothing consumed, nothing skipped

    adopted = _lake(settings, "adopt-topic", "-t", tenant)
    assert adopted.returncode == 0, adopted.stderr
    assert "now follows" in adopted.stdout
    sink = sink_process(settings, tenant, "adopted")
    try:
        wait_for_rows(settings, tenant, 2_000 + len(after.report_ids[tenant]), timeout_s=120)
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(timeout=60)
    assert sorted(_table_ids(settings, tenant)) == sorted(
        before.report_ids[tenant] + after.report_ids[tenant]
    )


def _message_ids(settings: Settings, tenant: str) -> list[str]:
    import pyarrow as pa
    from deltalake import DeltaTable

    from peacewatch.lakehouse.lake import lake_table

    where = lake_table(settings, tenant=tenant, name="reports")
    dt = DeltaTable(where.uri, storage_options=where.storage_options)
    return pa.table(dt.to_pyarrow_table(columns=["message_id"])).column("message_id").to_pylist()
