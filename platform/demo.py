"""`peacewatch demo`: the main job end to end on the real local stack."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Self

import pulsar
from rich.console import Console
from rich.table import Table

from peacewatch.functions.alert_deploy import deploy_alerting
from peacewatch.functions.alert_tail import follow_alerts
from peacewatch.functions.decision import AlertConfig
from peacewatch.functions.smoke_check import run_smoke
from peacewatch.lakehouse.batching import BatchPolicy
from peacewatch.lakehouse.lake import lake_table
from peacewatch.lakehouse.sink import DeltaSink
from peacewatch.lakehouse.upkeep import table_status
from peacewatch.platform.clients import pulsar_admin, pulsar_client
from peacewatch.platform.contract import parse_report
from peacewatch.platform.errors import InvalidReport
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.manager import Stack
from peacewatch.platform.topics import TenantTopics
from peacewatch.simulator.config import SimulationConfig
from peacewatch.simulator.publisher import Publisher, run_simulation
from peacewatch.tenants.provisioning import provision_topics

__all__ = ["EXAMPLE_TENANTS", "run_demo"]

EXAMPLE_TENANTS = ("north-precinct", "south-precinct")
# Each force picks its own threshold; south also rate-limits repeat alerts per citizen.
EXAMPLE_ALERTING = {
    "north-precinct": AlertConfig(threshold=20),
    "south-precinct": AlertConfig(threshold=25, cooldown_s=600),
}


class _PerTenantThreads:
    """A background thread per tenant, started and stopped as a context manager."""

    def __init__(self, tenants: tuple[str, ...]) -> None:
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(t,), daemon=True) for t in tenants]

    def _run(self, tenant: str) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        """After the threads have stopped."""

    def __enter__(self) -> Self:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()
        self._close()


class _AlertFeed(_PerTenantThreads):
    """Prints each tenant's alert log live, as an officer following it would see it."""

    def __init__(self, client: pulsar.Client, tenants: tuple[str, ...], console: Console) -> None:
        self.count = dict.fromkeys(tenants, 0)
        self._client = client
        self._console = console
        super().__init__(tenants)

    def _run(self, tenant: str) -> None:
        while not self._stop.is_set():
            for alert in follow_alerts(self._client, tenant=tenant, since=None, idle_timeout_s=0.5):
                self.count[tenant] += 1
                self._console.print(
                    f"[bold red]ALERT[/] [dim]{tenant}[/] {alert['citizen']} ({alert['citizen_id']}) "
                    f"peacescore [red]{alert['peacescore']}[/] seen by {alert['drone']} "
                    f"at {alert['lat']:.5f},{alert['lon']:.5f}",
                    highlight=False,
                )
                if self._stop.is_set():
                    return


class _Watcher(_PerTenantThreads):
    """Counts what arrives on each tenant's reports topic while the simulator publishes."""

    def __init__(self, client: pulsar.Client, tenants: tuple[str, ...]) -> None:
        self.received = dict.fromkeys(tenants, 0)
        self.invalid = dict.fromkeys(tenants, 0)
        self.latest: dict[str, str] = {}
        self._consumers = {
            t: client.subscribe(
                TenantTopics(t).reports, "demo-watch", initial_position=pulsar.InitialPosition.Latest
            )
            for t in tenants
        }
        super().__init__(tenants)

    def _run(self, tenant: str) -> None:
        consumer = self._consumers[tenant]
        while not self._stop.is_set():
            try:
                msg = consumer.receive(timeout_millis=500)
            except pulsar.Timeout:
                continue
            consumer.acknowledge(msg)
            self.received[tenant] += 1
            try:
                report = parse_report(msg.data())
            except InvalidReport:
                self.invalid[tenant] += 1
                continue
            self.latest[tenant] = (
                f"{report.drone_id} @ {report.lat:.4f},{report.lon:.4f} "
                f"{len(report.citizens)} citizens, battery {report.battery_pct:.0f}%"
            )

    def _close(self) -> None:
        for c in self._consumers.values():
            c.close()


def run_demo(
    settings: Settings, *, console: Console, drones: int = 40, minutes: int = 180, speed: float = 600
) -> None:
    console.rule("[bold]1. The real local stack")
    Stack(settings=settings, console=console).up()

    console.rule("[bold]2. Police forces as tenants")
    with pulsar_admin(settings) as admin:
        for tenant in EXAMPLE_TENANTS:
            result = provision_topics(admin, tenant=tenant, partitions=4)
            console.print(
                f"{tenant}: {len(result.changes)} changes"
                + (" (already onboarded)" if not result.changes else "")
            )

    console.rule("[bold]3. Python functions on the real worker")
    smoke = run_smoke(settings)
    console.print(f"smoke function answered {smoke.received!r} in {smoke.roundtrip_ms:.0f} ms")

    console.rule("[bold]4. Alert functions, one per police force")
    with pulsar_admin(settings) as admin:
        for tenant, config in EXAMPLE_ALERTING.items():
            outcome = deploy_alerting(settings, admin, tenant=tenant, config=config, console=console)
            console.print(f"{tenant}: alert function {outcome} (threshold {config.threshold})")

    console.rule(
        f"[bold]5. {drones} drones per tenant, {minutes} simulated minutes at {speed:.0f}x: live alerts"
    )
    client = pulsar_client(settings, io_threads=2)
    rows_before = {
        t: table_status(lake_table(settings, tenant=t, name="reports")).rows for t in EXAMPLE_TENANTS
    }
    # One Delta sink per force, writing every report and alert to its tables on MinIO.
    sinks = [
        DeltaSink(settings, client, tenant=t, policy=BatchPolicy(max_age_s=2), name="demo")
        for t in EXAMPLE_TENANTS
    ]
    sink_threads = [threading.Thread(target=sink.run, daemon=True) for sink in sinks]
    for thread in sink_threads:
        thread.start()
    try:
        publisher = Publisher(client, tenants=list(EXAMPLE_TENANTS), bad_rate=0.002, seed=1)
        with (
            _Watcher(client, EXAMPLE_TENANTS) as watcher,
            _AlertFeed(client, EXAMPLE_TENANTS, console) as feed,
        ):
            stats = run_simulation(
                publisher,
                config=SimulationConfig(drones=drones),
                tenants=list(EXAMPLE_TENANTS),
                start=datetime.now(UTC),
                minutes=minutes,
                speed=speed,
            )
            publisher.close()
            _wait_for(watcher, stats.per_tenant)
            time.sleep(2)  # the log topic batches for 100 ms; let the last alerts print
        table = Table("tenant", "published", "received", "malformed (to the DLQ)", "alerts", "latest report")
        for t in EXAMPLE_TENANTS:
            table.add_row(
                t,
                f"{stats.per_tenant[t]:,}",
                f"{watcher.received[t]:,}",
                f"{watcher.invalid[t]:,}",
                f"{feed.count[t]:,}",
                watcher.latest.get(t, "-"),
            )
        console.print(table)

        console.rule("[bold]6. Every report in Delta Lake on MinIO")
        _wait_lake(settings, rows_before, stats.per_tenant, watcher.invalid)
        for sink in sinks:
            sink.stop()
        for thread in sink_threads:
            thread.join()
        lake = Table("tenant", "table", "rows", "version", "files", "uri")
        for t in EXAMPLE_TENANTS:
            for name in ("reports", "alerts"):
                where = lake_table(settings, tenant=t, name=name)  # type: ignore[arg-type]
                st = table_status(where)
                lake.add_row(t, name, f"{st.rows:,}", str(st.version), str(st.files), where.uri)
        console.print(lake)
    finally:
        for sink in sinks:
            sink.stop()
            sink.close()
        client.close()


def _wait_lake(
    settings: Settings,
    start: dict[str, int],
    published: dict[str, int],
    invalid: dict[str, int],
    timeout_s: float = 60,
) -> None:
    """Until each tenant's reports table holds every valid report published in this run."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = {t: table_status(lake_table(settings, tenant=t, name="reports")).rows for t in published}
        if all(rows[t] - start[t] >= published[t] - invalid[t] for t in published):
            return
        time.sleep(1)


def _wait_for(watcher: _Watcher, published: dict[str, int], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(watcher.received[t] < n for t, n in published.items()):
        time.sleep(0.2)
