"""What operators watch, on the real stack, scraped by a real Prometheus (built with go install):
the sinks' and the desk's /metrics and the functions worker's (the broker's /metrics, standalone).

- Every query of the shipped Grafana dashboard returns data for a force; what the sink says it
  wrote, its lag and its freshness agree with what the test published and what Delta holds.
- A sink whose consumer is frozen (its loop stops; the process still answers) turns /healthz red
  once messages have waited past its threshold, and says how many wait - exactly what was
  published meanwhile - while another force's sink stays green; thawed, it stores everything once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import yaml
from deltalake import DeltaTable

from peacewatch.cli.output import RichProgress
from peacewatch.functions.deploy.alerting import ALERT_FUNCTION_NAME
from peacewatch.lakehouse.ingest.sink import SUBSCRIPTION, DeltaSink
from peacewatch.lakehouse.ingest.sink_health import HealthOptions
from peacewatch.lakehouse.ingest.sink_monitor import SinkMonitor
from peacewatch.lakehouse.lake import lake_table
from peacewatch.platform.auth import superuser_token
from peacewatch.platform.clients import kit_admin, kit_client, pulsar_admin, pulsar_client
from peacewatch.platform.metrics_http import MetricsServer
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.install import ensure_prometheus
from peacewatch.platform.topics import NAMESPACE
from peacewatch.simulator.config import SimulationConfig
from peacewatch.simulator.publisher import Publisher, run_simulation

from .alerting_helpers import publish, report
from .conftest import cli_env, free_port, lake_rows, onboard, sources, wait_for_rows
from .dashboard_render import render_dashboard

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DASHBOARD = Path(__file__).resolve().parents[2] / "helm" / "peacewatch" / "dashboards" / "peacewatch.json"
ARTEFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artefacts"
STALL_S = 5.0


def wait_until(ok: Any, *, what: str, timeout_s: float = 180.0) -> None:
    """Until `ok()`; past `timeout_s` the test fails saying what did not happen (never how fast)."""
    deadline = time.monotonic() + timeout_s
    while not ok():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s:.0f} s for {what}")
        time.sleep(0.5)


class Prometheus:
    """A Prometheus server scraping `targets` every second, queried through its HTTP API."""

    def __init__(
        self, settings: Settings, workdir: Path, targets: dict[str, str], *, broker_token: str
    ) -> None:
        self.port = free_port()
        jobs = [
            {"job_name": job, "scrape_interval": "1s", "static_configs": [{"targets": [target]}]}
            for job, target in targets.items()
        ]
        broker = settings.pulsar.web_url.split("://", 1)[1]
        # The functions worker's figures come out of the broker's /metrics in the standalone.
        jobs.append({"job_name": "pulsar", "scrape_interval": "1s", "metrics_path": "/metrics/",
                     "authorization": {"credentials": broker_token},
                     "static_configs": [{"targets": [broker]}]})  # fmt: skip
        config = workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump({"global": {"scrape_interval": "1s"}, "scrape_configs": jobs}))
        binary = ensure_prometheus(settings, progress=RichProgress())
        self._log = (workdir / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [str(binary), f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)
        wait_until(self._ready, what="Prometheus ready")

    def _ready(self) -> bool:
        try:
            return self.http.get("/-/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = self.http.get("/api/v1/query", params={"query": expr}).json()
        assert answer["status"] == "success", answer
        return list(answer["data"]["result"])

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def targets_up(self) -> dict[str, bool]:
        active = self.http.get("/api/v1/targets").json()["data"]["activeTargets"]
        return {t["labels"]["job"]: t["health"] == "up" for t in active}

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self._log.close()


def _run(settings: Settings, *args: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "peacewatch.cli.app", *args], env=cli_env(settings),
                            stdout=subprocess.DEVNULL, stderr=log.open("ab"))  # fmt: skip


def _stop(*procs: subprocess.Popen[bytes]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def _healthz(port: int) -> tuple[int, str]:
    answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
    return answer.status_code, answer.text.strip()


def _last_commit_rows(settings: Settings, tenant: str) -> pa.Table:
    """The rows of the reports table's newest commit: they share its ingest_time (one per batch)."""
    where = lake_table(settings, tenant=tenant, name="reports")
    rows = DeltaTable(where.uri, storage_options=where.storage_options).to_pyarrow_table(
        columns=["publish_time", "ingest_time"]
    )
    return rows.filter(pc.equal(rows.column("ingest_time"), pc.max(rows.column("ingest_time"))))


@pytest.fixture(scope="module")
def forces(stack, settings: Settings) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    run = uuid.uuid4().hex[:6]
    watched, other = f"ops-{run}-north", f"ops-{run}-south"
    with pulsar_admin(settings) as admin:
        onboard(settings, admin, watched, partitions=2, with_function=True)
        onboard(settings, admin, other, partitions=2)
        yield watched, other
        admin.delete_function(watched, NAMESPACE, ALERT_FUNCTION_NAME)


def test_every_dashboard_query_answers_and_agrees_with_the_lake(
    forces: tuple[str, str], settings: Settings, tmp_path: Path
) -> None:
    tenant, other = forces
    logs = settings.logs_dir
    logs.mkdir(parents=True, exist_ok=True)
    sink_port, other_port, desk_port = free_port(), free_port(), free_port()
    procs = [
        _run(settings, "lake", "run", "-t", tenant, "--name", "sink-a", "--processes", "1", "--max-age", "1",
             "--metrics-port", str(sink_port), log=logs / f"test-metrics-{tenant}.log"),
        _run(settings, "lake", "run", "-t", other, "--name", "sink-b", "--processes", "1", "--max-age", "1",
             "--metrics-port", str(other_port), log=logs / f"test-metrics-{other}.log"),
        _run(settings, "desk", "-t", tenant, "--port", str(free_port()), "--metrics-port", str(desk_port),
             log=logs / f"test-metrics-desk-{tenant}.log"),  # its /metrics: a port of its own
    ]  # fmt: skip
    targets = {"sink": sink_port, "sink-other": other_port, "desk": desk_port}
    prometheus = Prometheus(settings, tmp_path, {job: f"127.0.0.1:{port}" for job, port in targets.items()},
                            broker_token=superuser_token(settings))  # fmt: skip
    try:
        wait_until(lambda: all(prometheus.targets_up().values()), what="every target up")
        started = time.time()
        client = pulsar_client(settings)
        valid, malformed = {}, {}
        # The other force's backlog at once; the watched force's at 40 reports/s for 30 s (rates to see).
        for t, bad_rate, speed in ((other, 0.0, None), (tenant, 0.02, 60.0)):
            publisher = Publisher(client, tenants=[t], bad_rate=bad_rate, seed=5, keep_ids=True)
            stats = run_simulation(
                publisher, config=SimulationConfig(drones=40, seed=8, flaky_drones=0), tenants=[t],
                start=datetime.now(UTC), minutes=30, speed=speed,
            )  # fmt: skip
            publisher.close()
            valid[t], malformed[t] = len(stats.report_ids[t]), stats.malformed
        client.close()
        assert malformed[tenant] > 0
        for t in (tenant, other):
            wait_for_rows(settings, t, valid[t], timeout_s=240)
        stored = {t: lake_rows(settings, t) for t in (tenant, other)}
        written = f'peacewatch_sink_rows_written_total{{tenant="{tenant}", table="reports"}}'
        wait_until(lambda: prometheus.value(written) == stored[tenant], what="the sink's count scraped")
        backlog = f'sum(peacewatch_sink_backlog_messages{{tenant="{tenant}"}})'
        wait_until(lambda: prometheus.value(backlog) == 0, what="the backlog drained, as the broker sees it")
        assert prometheus.value(f'peacewatch_sink_backlog_errors_total{{tenant="{tenant}"}}') == 0
        # The dead letters: the malformed reports published, none of them in the lake.
        letters = f'sum(peacewatch_sink_dead_letters_total{{tenant="{tenant}", table="reports"}})'
        assert prometheus.value(letters) == malformed[tenant]
        # Freshness: the newest commit's oldest row, when that commit landed, as Delta holds them.
        rows = _last_commit_rows(settings, tenant)
        landed = prometheus.value(
            f'peacewatch_sink_last_commit_timestamp_seconds{{tenant="{tenant}", table="reports"}}'
        )
        fresh = prometheus.value(
            f'peacewatch_sink_commit_freshness_seconds{{tenant="{tenant}", table="reports"}}'
        )
        oldest = pc.min(rows.column("publish_time")).as_py().timestamp()
        assert landed is not None
        assert fresh is not None
        assert fresh == pytest.approx(landed - oldest, abs=0.002)
        assert landed >= pc.max(rows.column("ingest_time")).as_py().timestamp()  # after the rows were built
        # The function's and the desk's figures reach Prometheus, counted as the lake counts them.
        alerts = lake_table(settings, tenant=tenant, name="alerts")
        raised = DeltaTable(alerts.uri, storage_options=alerts.storage_options).count()
        assert raised > 0
        fn_alerts = (
            f'sum({{__name__=~"pulsar_function_user_metric_?_sum", tenant="{tenant}", metric="alerts"}})'
        )
        wait_until(lambda: prometheus.value(fn_alerts) == raised, what="the function's alert count")
        desk_read = f'peacewatch_desk_alerts_read_total{{tenant="{tenant}"}}'
        wait_until(lambda: prometheus.value(desk_read) == raised, what="the desk's alert count")
        # Every query of the dashboard, for this force, answers.
        time.sleep(2)  # two more scrapes: rate() needs two samples of the last counts
        exprs = [t["expr"] for p in json.loads(DASHBOARD.read_text())["panels"] for t in p["targets"]]
        empty = [e for e in exprs if not prometheus.query(e.replace("$tenant", tenant))]
        assert not empty, empty
        render_dashboard(DASHBOARD, prometheus=f"http://127.0.0.1:{prometheus.port}", tenant=tenant,
                         start=started, end=time.time(), out=ARTEFACTS / "dashboard.png")  # fmt: skip
        assert _healthz(sink_port) == (200, "ok")
        # `lake status` shows the same: nothing waiting, the newest commit's freshness.
        status = subprocess.run(
            [sys.executable, "-m", "peacewatch.cli.app", "lake", "status", "-t", tenant],
            env={**cli_env(settings), "COLUMNS": "250"}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert status.returncode == 0, status.stderr
        (line,) = [row for row in status.stdout.splitlines() if " reports " in row]
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        assert cells[3] == f"{stored[tenant]:,}"  # rows
        assert cells[-1] == "0"  # waiting
        assert cells[-2].endswith("s")  # freshness, from the commit's own record
    finally:
        prometheus.close()
        _stop(*procs)


def test_a_frozen_consumer_turns_healthz_red_while_another_force_stays_green(
    forces: tuple[str, str], settings: Settings
) -> None:
    _, other = forces
    tenant = f"ops-{uuid.uuid4().hex[:6]}-frozen"
    with pulsar_admin(settings) as admin:
        onboard(settings, admin, tenant, partitions=2)
    other_port, port = free_port(), free_port()
    green = _run(settings, "lake", "run", "-t", other, "--name", "sink-b", "--processes", "1",
                 "--stall-after", str(STALL_S), "--metrics-port", str(other_port),
                 log=settings.logs_dir / f"test-frozen-{other}.log")  # fmt: skip
    # The sink as `lake run` wires it, in this process: its loop can be frozen while its HTTP
    # server and broker poll go on - a consumer the broker stopped dispatching to, seen from outside.
    frozen, thaw = threading.Event(), threading.Event()

    def until() -> bool:
        if frozen.is_set():
            thaw.wait()
        return False

    client = kit_client(settings, tenant=tenant, kit="lake")
    sink = DeltaSink(settings, client, tenant=tenant, name="sink-f", sources=sources(settings, tenant))
    monitor = SinkMonitor(sink, admin=kit_admin(settings, tenant=tenant, kit="lake"),
                          subscription=SUBSCRIPTION, options=HealthOptions(stall_after_s=STALL_S),
                          poll_s=1.0)  # fmt: skip
    server = MetricsServer(registry=monitor.registry(), health=monitor.check, port=port).start()
    monitor.start()
    runner = threading.Thread(target=lambda: sink.run(until=until), daemon=True)
    runner.start()
    producer_client = pulsar_client(settings)
    try:
        first = [report(("c-1", 80), drone=f"d-{i}") for i in range(50)]
        publish(producer_client, tenant, [(r.drone_id, r.to_json()) for r in first])
        wait_for_rows(settings, tenant, 50, timeout_s=120)
        wait_until(lambda: _healthz(port)[0] == 200, what="green")
        frozen.set()
        time.sleep(1)  # the loop is parked in until()
        later = [report(("c-2", 80), drone=f"d-{i}") for i in range(37)]
        publish(producer_client, tenant, [(r.drone_id, r.to_json()) for r in later])  # one entry each
        try:
            wait_until(lambda: _healthz(port)[0] == 503, what="red", timeout_s=120)
        except AssertionError:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            raise AssertionError(
                f"never red: {_healthz(port)}; {[x for x in text.splitlines() if 'backlog' in x]}"
            ) from None
        _, why = _healthz(port)
        assert why.startswith("reports: 37 messages waiting and nothing stored for ")
        assert float(why.rsplit(" ", 1)[1].rstrip("s")) >= STALL_S
        assert _healthz(other_port) == (200, "ok")  # the other force's sink, idle and fine
        text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert f'peacewatch_sink_healthy{{consumer="sink-f",tenant="{tenant}"}} 0.0' in text
        thaw.set()
        frozen.clear()
        wait_for_rows(settings, tenant, 87, timeout_s=120)
        wait_until(lambda: _healthz(port)[0] == 200, what="green again")
        assert lake_rows(settings, tenant) == 87  # each once
    finally:
        thaw.set()
        sink.stop()
        runner.join(timeout=60)
        server.stop()
        monitor.close()
        sink.close()
        client.close()
        producer_client.close()
        _stop(green)
