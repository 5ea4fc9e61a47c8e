"""The analysts' path end to end: simulator -> Pulsar -> Delta sink -> Delta on MinIO -> Spark (s3a)
-> `peacewatch analyze` and `peacewatch sql`."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pulsar
import pytest

from peacewatch.lakehouse.ingest.batching import BatchPolicy
from peacewatch.lakehouse.ingest.sink import DeltaSink
from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.manager import Stack
from peacewatch.simulator.config import SimulationConfig
from peacewatch.simulator.publisher import Publisher, run_simulation

from .conftest import cli_env, free_port, lake_rows, onboard, sources, wait_for_rows

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_analyze_reads_what_the_sink_wrote_to_minio(
    stack: Stack, settings: Settings, admin: PulsarAdmin, client: pulsar.Client,
    tenant_names: tuple[str, str], tmp_path: Path,
) -> None:  # fmt: skip
    tenant = tenant_names[0]
    onboard(settings, admin, tenant, partitions=2)
    # Two days (a Saturday and a Sunday) of 20 drones: ~57,600 reports through the broker.
    publisher = Publisher(client, tenants=[tenant], seed=3)
    stats = run_simulation(
        publisher, config=SimulationConfig(drones=20, seed=5), tenants=[tenant],
        start=datetime(2026, 11, 7, tzinfo=UTC), minutes=2 * 1440, speed=None,
    )  # fmt: skip
    publisher.close()
    published = stats.per_tenant[tenant]
    assert stats.failed == 0

    sink = DeltaSink(
        settings, client, tenant=tenant, policy=BatchPolicy(max_age_s=1), tables=("reports",),
        sources=sources(settings, tenant),
    )  # fmt: skip
    thread = threading.Thread(target=sink.run, daemon=True)
    thread.start()
    try:
        written = wait_for_rows(settings, tenant, published, timeout_s=120)
    finally:
        sink.stop()
        thread.join(timeout=60)
        sink.close()
    assert written == published
    assert lake_rows(settings, tenant) == published

    cli = [sys.executable, "-m", "peacewatch.cli.app"]
    out = tmp_path / "analysis"
    proc = subprocess.run(
        [*cli, "analyze", "-t", tenant, "--out", str(out)],
        env=cli_env(settings), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = (out / tenant / "report.html").read_text()
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 5
    assert f"s3a://{settings.tenant_bucket(tenant)}/lake/reports" in page
    assert "uprising" in proc.stdout  # the planted word tops the lift table printed
    assert f"{tenant}-d" in proc.stdout  # a drone named for maintenance

    # The default (embedded) engine and Spark, as the force's analyst, on MinIO: the same answer.
    for engine in ("embedded", "spark"):
        query = subprocess.run(
            [*cli, "sql", "-t", tenant, "--json", "--engine", engine,
             "SELECT count(*) AS n, count(DISTINCT drone_id) AS drones FROM reports"],
            env=cli_env(settings), capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert query.returncode == 0, query.stderr[-3000:]
        assert json.loads(query.stdout.strip()) == {"n": published, "drones": 20}, engine

    # A table printed to a pipe keeps its width (rich folds at 80 columns otherwise).
    names = [f"a_rather_long_column_name_number_{i}" for i in range(4)]
    columns = ", ".join(f"count(*) AS {n}" for n in names)
    wide = subprocess.run(
        [*cli, "sql", "-t", tenant, f"SELECT {columns} FROM reports"],
        env=cli_env(settings), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert wide.returncode == 0, wide.stderr[-3000:]
    assert any(all(n in line for n in names) for line in wide.stdout.splitlines()), wide.stdout

    # The force's warm Spark: `sql --engine spark` goes to it; SIGTERM stops it and its marker.
    from peacewatch.lakehouse.query.spark_connect import find_server

    port, metrics_port = free_port(), free_port()
    server = subprocess.Popen(
        [*cli, "lake", "spark-server", "-t", tenant, "--port", str(port),
         "--metrics-port", str(metrics_port)],
        env=cli_env(settings), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while find_server(settings, tenant) is None and server.poll() is None and time.monotonic() < deadline:
            time.sleep(1)
        found = find_server(settings, tenant)
        assert found is not None, server.stderr.read() if server.poll() is not None and server.stderr else ""
        assert found.port == port
        bad = "SELECT count(*) AS n FROM sightings WHERE peacescore < 20"
        query = subprocess.run(
            [*cli, "sql", "-t", tenant, "--json", "--engine", "spark", bad],
            env=cli_env(settings), capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert query.returncode == 0, query.stderr[-3000:]
        embedded = subprocess.run(
            [*cli, "sql", "-t", tenant, "--json", bad],
            env=cli_env(settings), capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert json.loads(query.stdout.strip()) == json.loads(embedded.stdout.strip())
        assert "Starting Spark" not in query.stderr  # no JVM of its own: the server's
        # What an operator's probe and Prometheus see of it.
        assert httpx.get(f"http://127.0.0.1:{metrics_port}/healthz").text == "ok\n"
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert f'peacewatch_spark_server_up{{tenant="{tenant}"}} 1.0' in text
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
    assert find_server(settings, tenant) is None
    assert not (settings.run_dir / f"spark-connect-{tenant}.properties").exists()  # the keys' file
