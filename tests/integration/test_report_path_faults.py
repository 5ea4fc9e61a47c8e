"""The report path under faults, while drones publish steadily: every acknowledged report in
Delta exactly once, no recorded position going backwards, dead letters once per stage.

- sink processes joining and leaving gracefully (SIGTERM), several timings;
- a sink killed (kill -9) mid-batch and another started, several timings;
- the whole broker restarted while drones publish, the function and two sinks run;
- a stopped sink: nothing expires, nothing blocks the drones or the alerts;
- MinIO away: SIGTERM still stops a sink within seconds, nothing acknowledged, nothing lost.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pulsar
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from peacewatch.functions.deploy.alerting import ALERT_FUNCTION_NAME
from peacewatch.lakehouse.lake import lake_table
from peacewatch.platform.clients import pulsar_client
from peacewatch.platform.contract import Alert
from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.manager import Stack
from peacewatch.platform.stack.minio import MinioRunner
from peacewatch.platform.topics import LAKE_SUBSCRIPTION, NAMESPACE, TenantTopics
from peacewatch.simulator.config import SimulationConfig
from peacewatch.simulator.publisher import Publisher, PublishStats, run_simulation

from .alerting_helpers import read_all
from .conftest import cli_env, onboard, sink_process, wait_for_rows

ARTEFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artefacts"

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class Drones:
    """Drones publishing at a steady rate in the background; ids kept once the broker acked them."""

    def __init__(
        self,
        settings: Settings,
        tenant: str,
        *,
        reports: int,
        rate: int,
        bad_rate: float = 0.0,
        seed: int = 3,
    ) -> None:
        self.client = pulsar_client(settings, io_threads=2)
        drones = max(1, rate // 10)  # speed 600: a drone reports every 0.1 s of wall time
        self.publisher = Publisher(
            self.client, tenants=[tenant], bad_rate=bad_rate, seed=rate, keep_ids=True, send_timeout_ms=0
        )
        self.stats: PublishStats | None = None
        self._thread = threading.Thread(
            target=self._run, args=(tenant, drones, max(1, reports // drones), seed), daemon=True
        )
        self._thread.start()

    def _run(self, tenant: str, drones: int, minutes: int, seed: int) -> None:
        self.stats = run_simulation(
            self.publisher, config=SimulationConfig(drones=drones, seed=seed, flaky_drones=0),
            tenants=[tenant], start=datetime.now(UTC) - timedelta(days=1), minutes=minutes, speed=600.0,
        )  # fmt: skip

    def join(self) -> PublishStats:
        self._thread.join(timeout=600)
        self.publisher.close()
        self.client.close()
        assert self.stats is not None
        return self.stats


def _stored(settings: Settings, tenant: str, table: str = "reports") -> tuple[list[str], DeltaTable]:
    where = lake_table(settings, tenant=tenant, name=table)  # type: ignore[arg-type]
    dt = DeltaTable(where.uri, storage_options=where.storage_options)
    column = "report_id" if table == "reports" else "alert_id"
    return pa.table(dt.to_pyarrow_table(columns=[column])).column(column).to_pylist(), dt


def _positions_never_went_backwards(dt: DeltaTable) -> None:
    seen: dict[str, int] = {}
    for commit in sorted(dt.history(), key=lambda c: c["version"]):
        for partition, pos in json.loads(commit.get("peacewatch.positions", "{}")).items():
            assert pos > seen.get(partition, -1), f"{partition} went back to {pos} at v{commit['version']}"
            seen[partition] = pos


def _assert_exactly_once(settings: Settings, tenant: str, acked: list[str], *, logs: str = "") -> None:
    stored, dt = _stored(settings, tenant)
    counts = Counter(stored)
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    lost = len(set(acked) - set(counts))
    assert (duplicates, lost) == (0, 0), f"{duplicates} duplicates, {lost} lost\n{logs}"
    assert Counter(stored) == Counter(acked)
    _positions_never_went_backwards(dt)


def _dead_letters(client: pulsar.Client, tenant: str, expected: int) -> Counter[tuple[str, str]]:
    """(stage, source message id) -> entries in the tenant's DLQ."""
    return Counter(
        (m.properties()["stage"], m.properties()["source_message_id"])
        for m in read_all(client, TenantTopics(tenant).dlq, expected=expected, idle_s=5)
    )


def _logs(settings: Settings, tenant: str) -> str:
    return "\n".join(
        f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-15:])
        for p in sorted(settings.logs_dir.glob(f"test-sink-{tenant}-*.log"))
    )


_CURSOR_KEYS = ("readPosition", "markDeletePosition", "waitingReadOp", "pendingReadOps", "state")


def _subscription_picture(admin: PulsarAdmin, tenant: str) -> str:
    """Who holds what on the lake-sink subscription, per partition (to diagnose a stall)."""
    lines = []
    topics = TenantTopics(tenant)
    for topic, partitioned in ((topics.reports, True), (topics.alerts, False)):
        stats = admin.topic_stats(topic, partitioned=partitioned)
        parts = stats.get("partitions", {}) if partitioned else {topic: stats}
        for name, part in sorted(parts.items()):
            sub = part.get("subscriptions", {}).get(LAKE_SUBSCRIPTION, {})
            consumers = ", ".join(
                f"{c.get('consumerName')}(permits={c.get('availablePermits')}, "
                f"unacked={c.get('unackedMessages')}, out={c.get('msgOutCounter')})"
                for c in sub.get("consumers", [])
            )
            cursor = admin.internal_stats(name).get("cursors", {}).get(LAKE_SUBSCRIPTION, {})
            lines.append(
                f"{name.rsplit('/', 1)[-1]}: backlog={sub.get('msgBacklog')} "
                f"active={sub.get('activeConsumerName')} [{consumers}] cursor: "
                + ", ".join(f"{k}={cursor.get(k)}" for k in _CURSOR_KEYS)
            )
    return "\n".join(lines)


@contextmanager
def _sinks(settings: Settings, tenant: str) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        yield procs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            proc.wait(timeout=90)


@pytest.mark.parametrize("seed", [1, 2])
# Seen failing before the sinks checked for gaps (batching.plan): 473 of 59,694 reports acknowledged
# and never stored, or part of a backlog never delivered - entries a handover left unacknowledged
# behind the broker's read position. When it fails, the per-partition picture and the sinks' logs
# go to build/test-artefacts/.
def test_sinks_joining_and_leaving_store_every_report_once(
    stack: Stack, settings: Settings, admin: PulsarAdmin, client: pulsar.Client,
    tenant_names: tuple[str, str], seed: int,
) -> None:  # fmt: skip
    """Start A; start B; start C; SIGTERM A; start D; SIGTERM B - while drones publish."""
    tenant = tenant_names[0]
    onboard(settings, admin, tenant, partitions=4)
    rng = random.Random(seed)
    with _sinks(settings, tenant) as sinks:
        sinks["a"] = sink_process(settings, tenant, "a")
        drones = Drones(settings, tenant, reports=60_000, rate=2_500, bad_rate=0.005)
        for step in ("start b", "start c", "stop a", "start d", "stop b"):
            time.sleep(rng.uniform(2.0, 5.0))
            action, name = step.split()
            if action == "start":
                sinks[name] = sink_process(settings, tenant, name)
            else:
                sinks[name].send_signal(signal.SIGTERM)
                assert sinks[name].wait(timeout=60) == 0, _logs(settings, tenant)
        stats = drones.join()
        acked = stats.report_ids[tenant]
        stored = wait_for_rows(settings, tenant, len(acked), timeout_s=180, allow_fewer=True)
        picture = "" if stored >= len(acked) else _subscription_picture(admin, tenant)
        if picture:  # keep the stall's picture where it can be read after the run
            ARTEFACTS.mkdir(parents=True, exist_ok=True)
            (ARTEFACTS / f"join-leave-stall-seed{seed}.txt").write_text(
                f"{stored} of {len(acked)} stored\n{picture}\n{_logs(settings, tenant)}\n"
            )
        time.sleep(3)  # a couple more batches: nothing may arrive twice
    assert stats.failed == 0
    _assert_exactly_once(settings, tenant, acked, logs=f"{picture}\n{_logs(settings, tenant)}")
    dead = _dead_letters(client, tenant, stats.malformed)
    assert len(dead) == stats.malformed > 0
    assert set(dead.values()) == {1}  # once each, whichever sink met the message (and however often)


@pytest.mark.parametrize("seed", [3, 4])
def test_a_sink_killed_mid_batch_and_another_started(
    stack: Stack, settings: Settings, admin: PulsarAdmin, client: pulsar.Client,
    tenant_names: tuple[str, str], seed: int,
) -> None:  # fmt: skip
    tenant = tenant_names[1]
    onboard(settings, admin, tenant, partitions=4)
    rng = random.Random(seed)
    with _sinks(settings, tenant) as sinks:
        sinks["a"] = sink_process(settings, tenant, "a")
        sinks["b"] = sink_process(settings, tenant, "b")
        drones = Drones(settings, tenant, reports=50_000, rate=2_500, bad_rate=0.005)
        for round_ in range(3):
            time.sleep(rng.uniform(2.0, 6.0))
            victim = rng.choice(sorted(n for n, p in sinks.items() if p.poll() is None))
            sinks[victim].send_signal(signal.SIGKILL)  # mid-batch, mid-commit or before the acks
            sinks[victim].wait()
            sinks[f"k{round_}"] = sink_process(settings, tenant, f"k{round_}")
        stats = drones.join()
        acked = stats.report_ids[tenant]
        wait_for_rows(settings, tenant, len(acked), timeout_s=180)
        time.sleep(3)
    _assert_exactly_once(settings, tenant, acked, logs=_logs(settings, tenant))
    dead = _dead_letters(client, tenant, stats.malformed)
    assert len(dead) == stats.malformed > 0
    assert set(dead.values()) == {1}  # a redelivered invalid message is not dead-lettered twice


def _workers(supervisor: subprocess.Popen[bytes], expected: int) -> list[psutil.Process]:
    deadline = time.monotonic() + 60
    while len(children := psutil.Process(supervisor.pid).children()) < expected:
        assert supervisor.poll() is None, "the supervisor exited"
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.2)
    return children


def test_lake_run_in_several_processes_stores_every_report_once_and_stops_with_its_supervisor(
    stack: Stack, settings: Settings, admin: PulsarAdmin, tenant_names: tuple[str, str]
) -> None:
    """`lake run --processes 2`: two consumers share the partitions; SIGTERM stops both cleanly;
    a supervisor killed with -9 takes its workers with it (they must not consume on, orphaned)."""
    tenant = tenant_names[0]
    onboard(settings, admin, tenant, partitions=4)
    command = [sys.executable, "-m", "peacewatch.cli.app", "lake", "run", "-t", tenant,
               "--name", "multi", "--processes", "2", "--max-age", "1"]  # fmt: skip
    log = (settings.logs_dir / f"test-sink-{tenant}-multi.log").open("ab")
    supervisor = subprocess.Popen(command, env=cli_env(settings), stdout=subprocess.DEVNULL, stderr=log)
    workers = _workers(supervisor, 2)
    drones = Drones(settings, tenant, reports=20_000, rate=2_500)
    stats = drones.join()
    acked = stats.report_ids[tenant]
    wait_for_rows(settings, tenant, len(acked), timeout_s=120)
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(timeout=60) == 0
    assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
    _assert_exactly_once(settings, tenant, acked, logs=_logs(settings, tenant))

    supervisor = subprocess.Popen(command, env=cli_env(settings), stdout=subprocess.DEVNULL, stderr=log)
    workers = _workers(supervisor, 2)
    supervisor.send_signal(signal.SIGKILL)
    supervisor.wait()
    _, alive = psutil.wait_procs(workers, timeout=60)
    assert not alive, f"workers outlived their supervisor: {alive}"


def test_a_broker_restart_while_drones_publish_loses_and_duplicates_nothing(
    stack: Stack, settings: Settings, admin: PulsarAdmin, client: pulsar.Client, tenant_names: tuple[str, str]
) -> None:
    tenant = tenant_names[0]
    onboard(settings, admin, tenant, partitions=4, with_function=True)
    pulsar_runner = stack._pulsar()
    with _sinks(settings, tenant) as sinks:
        sinks["a"] = sink_process(settings, tenant, "a")
        sinks["b"] = sink_process(settings, tenant, "b")
        drones = Drones(settings, tenant, reports=50_000, rate=2_000, bad_rate=0.005)
        time.sleep(6)
        pulsar_runner.process.stop()  # broker, bookie and functions worker all go
        restarted_at = time.time()
        stack.up()
        stats = drones.join()
        acked = stats.report_ids[tenant]
        wait_for_rows(settings, tenant, len(acked), timeout_s=240)
        time.sleep(3)
        assert all(p.poll() is None for p in sinks.values()), _logs(settings, tenant)
    _assert_exactly_once(settings, tenant, acked, logs=_logs(settings, tenant))

    # Alerts resumed after the restart. The alerts topic may repeat an alert (a report redelivered
    # after the restart raises it again): only ever under the same alert_id.
    alerts = [Alert.model_validate_json(m.data()) for m in read_all(client, TenantTopics(tenant).alerts,
                                                                        expected=1, idle_s=5)]  # fmt: skip
    assert any(a.raised_at.timestamp() > restarted_at for a in alerts)
    by_id: dict[str, set[tuple[str, str]]] = {}
    for a in alerts:
        by_id.setdefault(str(a.alert_id), set()).add((str(a.report_id), a.citizen_id))
    assert all(len(v) == 1 for v in by_id.values())
    # Officers see each alert once, whatever the topic holds.
    tail = subprocess.run(
        [sys.executable, "-m", "peacewatch.cli.app", "alerts", "tail", "-t", tenant, "--since", "2h",
         "--json", "--idle-timeout", "5"],
        capture_output=True, text=True, env=cli_env(settings), timeout=120, check=True,
    )  # fmt: skip
    shown = [json.loads(line)["alert_id"] for line in tail.stdout.splitlines() if line.startswith("{")]
    assert len(shown) == len(set(shown)) > 0
    # Dead letters once per stage.
    dead = _dead_letters(client, tenant, 2 * stats.malformed)
    assert Counter(stage for stage, _ in dead) == {"alerting": stats.malformed, "lake-sink": stats.malformed}
    assert set(dead.values()) == {1}


def test_a_stopped_sink_expires_nothing_and_blocks_no_one(
    stack: Stack, settings: Settings, admin: PulsarAdmin, client: pulsar.Client, tenant_names: tuple[str, str]
) -> None:
    tenant = tenant_names[1]
    onboard(settings, admin, tenant, partitions=2, with_function=True)
    ns = f"{tenant}/{NAMESPACE}"
    # No policy that expires or evicts unacknowledged reports, or holds the drones back.
    assert admin.get_namespace_policy_or_none(ns, "messageTTL") in (None, 0)
    assert "destination_storage" not in (admin.get_namespace_policy_or_none(ns, "backlogQuotaMap") or {})
    # The lake is down (no sink has ever run): drones and alerts carry on.
    drones = Drones(settings, tenant, reports=20_000, rate=4_000)
    stats = drones.join()
    assert stats.failed == 0
    backlog = admin.topic_stats(TenantTopics(tenant).reports, partitioned=True)["subscriptions"]
    assert backlog["lake-sink"]["msgBacklog"] > 0  # kept for the lake (counted in batched entries)
    deadline = time.monotonic() + 120
    while (
        admin.topic_stats(TenantTopics(tenant).reports, partitioned=True)["subscriptions"]["alerting"][
            "msgBacklog"
        ]
        and time.monotonic() < deadline
    ):
        time.sleep(1)
    status = admin.function_status(tenant, NAMESPACE, ALERT_FUNCTION_NAME)
    assert sum(i["status"]["numSuccessfullyProcessed"] for i in status["instances"]) >= len(
        stats.report_ids[tenant]
    )
    # The lake comes back and catches up with everything.
    with _sinks(settings, tenant) as sinks:
        sinks["late"] = sink_process(settings, tenant, "late")
        wait_for_rows(settings, tenant, len(stats.report_ids[tenant]), timeout_s=120)
    _assert_exactly_once(settings, tenant, stats.report_ids[tenant])


def test_sigterm_stops_a_sink_during_a_minio_outage_and_nothing_is_lost(
    stack: Stack, settings: Settings, admin: PulsarAdmin, client: pulsar.Client, tenant_names: tuple[str, str]
) -> None:
    tenant = tenant_names[0]
    onboard(settings, admin, tenant, partitions=2)
    minio = MinioRunner(settings=settings, binary=stack._minio().binary)
    log_file = settings.logs_dir / f"test-sink-{tenant}-m.log"
    sink = sink_process(settings, tenant, "m")
    try:
        before = Drones(settings, tenant, reports=4_000, rate=2_000)
        assert wait_for_rows(settings, tenant, 1, timeout_s=60) > 0
        minio.process.stop()
        # Reports that arrive during the outage: the sink must try (and fail) to commit them, however
        # fast it took in the first batch on this machine.
        during = Drones(settings, tenant, reports=4_000, rate=2_000, seed=4)
        acked = before.join().report_ids[tenant] + during.join().report_ids[tenant]
        deadline = time.monotonic() + 90
        while "retrying in" not in log_file.read_text() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert "retrying in" in log_file.read_text()  # commits really failed and were retried
        sink.send_signal(signal.SIGTERM)
        sink.wait(timeout=30)  # within seconds, although the outage goes on
    finally:
        if minio.process.pid() is None:
            minio.start()
            stack.up()
        if sink.poll() is None:
            sink.kill()
    assert "nothing acknowledged" in log_file.read_text()
    late = sink_process(settings, tenant, "late")
    try:
        wait_for_rows(settings, tenant, len(acked), timeout_s=120)
    finally:
        late.send_signal(signal.SIGTERM)
        late.wait(timeout=60)
    _assert_exactly_once(settings, tenant, acked)
