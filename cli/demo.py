"""`peacewatch demo`: the main job end to end on the real local stack."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Self

import pulsar
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from peacewatch.cli.analyze import print_answers
from peacewatch.cli.output import RichProgress
from peacewatch.cli.tenants import apply_spec
from peacewatch.functions.deploy.alerting import ALERT_FUNCTION_NAME
from peacewatch.functions.deploy.smoke_check import run_smoke
from peacewatch.functions.desk.access import DeskAccess
from peacewatch.functions.desk.server import DeskServer
from peacewatch.functions.desk.tail import follow_alerts
from peacewatch.lakehouse.ingest.batching import BatchPolicy
from peacewatch.lakehouse.ingest.run import run_sink
from peacewatch.lakehouse.lake import TABLES, lake_table
from peacewatch.lakehouse.query.analysis import run_analysis
from peacewatch.lakehouse.upkeep import table_status
from peacewatch.platform.clients import kit_client, pulsar_admin, pulsar_client
from peacewatch.platform.contract import parse_report
from peacewatch.platform.errors import InvalidReport
from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.manager import Stack
from peacewatch.platform.topics import TenantTopics
from peacewatch.simulator.config import SimulationConfig
from peacewatch.simulator.publisher import Publisher, PublishStats, run_simulation
from peacewatch.tenants.spec import load_spec

__all__ = ["EXAMPLE_TENANTS", "run_demo"]

# Each force picks its own threshold; south also rate-limits repeat alerts per citizen
# (tenants/examples/*.yaml).
EXAMPLE_TENANTS = ("north-precinct", "south-precinct")
EXAMPLES = Path(__file__).parents[1] / "tenants" / "examples"


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

    def __init__(self, clients: dict[str, pulsar.Client], tenants: tuple[str, ...], console: Console) -> None:
        self.count = dict.fromkeys(tenants, 0)
        self._clients = clients
        self._console = console
        super().__init__(tenants)

    def _run(self, tenant: str) -> None:
        while not self._stop.is_set():
            for alert in follow_alerts(self._clients[tenant], tenant=tenant, since=None, idle_timeout_s=0.5):
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
    """Counts what arrives on each tenant's reports topic while the simulator publishes.

    Readers, not subscriptions: a durable subscription left behind by the demo would keep every
    later report in the backlog for good."""

    def __init__(self, client: pulsar.Client, tenants: tuple[str, ...]) -> None:
        self.received = dict.fromkeys(tenants, 0)
        self.invalid = dict.fromkeys(tenants, 0)
        self.latest: dict[str, str] = {}
        self._readers = {
            t: client.create_reader(TenantTopics(t).reports, pulsar.MessageId.latest) for t in tenants
        }
        super().__init__(tenants)

    def _run(self, tenant: str) -> None:
        reader = self._readers[tenant]
        while not self._stop.is_set():
            try:
                msg = reader.read_next(timeout_millis=500)
            except pulsar.Timeout:
                continue
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
        for r in self._readers.values():
            r.close()


def run_demo(
    settings: Settings,
    *,
    console: Console,
    drones: int = 40,
    minutes: int = 180,
    speed: float = 600,
    history_days: float = 7.0,
    history_drones: int = 20,
) -> None:
    console.rule("[bold]1. The real local stack")
    Stack(settings=settings, progress=RichProgress(console)).up()

    console.rule("[bold]2. Police forces as tenants: `peacewatch tenants apply tenants/examples/*.yaml`")
    specs = [load_spec(EXAMPLES / f"{t}.yaml") for t in EXAMPLE_TENANTS]
    for spec in specs:
        apply_spec(settings, spec)

    console.rule("[bold]3. Python functions on the real worker")
    smoke = run_smoke(settings)
    console.print(f"smoke function answered {smoke.received!r} in {smoke.roundtrip_ms:.0f} ms")

    # Every component as the role it is: drones as each force's fleet, sinks as its lake role,
    # the alert feed as its officers.
    fleet = {t: kit_client(settings, tenant=t, kit="fleet", io_threads=2) for t in EXAMPLE_TENANTS}
    officers = {t: kit_client(settings, tenant=t, kit="officer") for t in EXAMPLE_TENANTS}
    watch_client = pulsar_client(settings)
    # The sinks as `peacewatch lake run` runs them, one thread per force, until the lake is checked.
    sinks_stop = threading.Event()
    sink_threads = [
        threading.Thread(target=run_sink, args=(settings,), daemon=True,
                         kwargs={"tenant": t, "name": "demo", "policy": BatchPolicy(max_age_s=2),
                                 "until": sinks_stop.is_set})
        for t in EXAMPLE_TENANTS
    ]  # fmt: skip
    for thread in sink_threads:
        thread.start()
    try:
        rows_before = {
            t: table_status(lake_table(settings, tenant=t, name="reports")).rows for t in EXAMPLE_TENANTS
        }
        history_minutes = int(history_days * 1440)
        console.rule(
            f"[bold]4. {history_days:g} days of history: {history_drones} drones per force, through Pulsar"
        )
        if all(rows_before.values()):
            # A second history over the first would give the same drones two sets of readings.
            console.print(
                f"already in the lake from an earlier run ({sum(rows_before.values()):,} reports): skipped"
            )
            history = PublishStats()
        else:
            start = datetime.now(UTC) - timedelta(minutes=history_minutes + minutes)
            history = _publish_with_progress(
                console, fleet, config=SimulationConfig(drones=history_drones, seed=2),
                start=start, minutes=history_minutes,
            )  # fmt: skip
        with (
            pulsar_admin(settings) as admin,
            console.status("Alert functions catching up with the history ..."),
        ):
            for t in EXAMPLE_TENANTS:
                left = _wait_backlog(admin, t, subscription=ALERT_FUNCTION_NAME)
                if left:
                    console.print(
                        f"[yellow]timed out:[/] {t}'s alert function still has {left:,} reports to go"
                    )

        console.rule(
            f"[bold]5. {drones} drones per force, {minutes} simulated minutes at {speed:.0f}x: live alerts"
        )
        publisher = Publisher(fleet, tenants=list(EXAMPLE_TENANTS), bad_rate=0.002, seed=1)
        desks = _open_desks(settings, officers, console)
        with (
            _Watcher(watch_client, EXAMPLE_TENANTS) as watcher,
            _AlertFeed(officers, EXAMPLE_TENANTS, console) as feed,
        ):
            stats = run_simulation(
                publisher,
                config=SimulationConfig(drones=drones),
                tenants=list(EXAMPLE_TENANTS),
                start=datetime.now(UTC) - timedelta(minutes=minutes),
                minutes=minutes,
                speed=speed,
            )
            publisher.close()
            unseen = _wait_for(watcher, stats.per_tenant)
            if unseen:
                console.print(f"[yellow]timed out[/] waiting for reports to arrive: not seen {unseen}")
            time.sleep(2)  # the log topic batches for 100 ms; let the last alerts print
        for desk in desks:
            desk.stop()
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
        expected = {t: history.per_tenant.get(t, 0) + stats.per_tenant[t] for t in EXAMPLE_TENANTS}
        missing = _wait_lake(settings, rows_before, expected, watcher.invalid)
        if missing:
            console.print(f"[yellow]timed out[/] waiting for the lake: reports not stored yet {missing}")
        sinks_stop.set()
        for thread in sink_threads:
            thread.join()
        lake = Table("tenant", "table", "rows", "version", "files", "uri")
        for t in EXAMPLE_TENANTS:
            for name in TABLES:
                where = lake_table(settings, tenant=t, name=name)
                st = table_status(where)
                lake.add_row(t, name, f"{st.rows:,}", str(st.version), str(st.files), where.uri)
        console.print(lake)
    finally:
        sinks_stop.set()
        for client in [*fleet.values(), *officers.values(), watch_client]:
            client.close()

    console.rule("[bold]7. Officers' questions: Spark SQL over each force's Delta tables")
    for spec in specs:
        answers, report = run_analysis(settings, tenant=spec.name, out=Path("peacewatch-analysis"),
                                       progress=RichProgress(console))  # fmt: skip
        print_answers(spec.name, answers, report, to=console)
    console.print(
        'Ask your own: [bold]peacewatch sql -t north-precinct "SELECT name, count(*) FROM sightings '
        'WHERE peacescore < 20 GROUP BY name ORDER BY 2 DESC LIMIT 10"[/]'
    )
    console.print("Follow a force's alerts in a browser: [bold]peacewatch desk -t north-precinct[/]")


def _open_desks(settings: Settings, officers: dict[str, pulsar.Client], console: Console) -> list[DeskServer]:
    """An alert desk per force for the live part (as `peacewatch desk` serves it), its URL printed."""
    desks = []
    access = DeskAccess(web_url=settings.pulsar.web_url)
    for i, (tenant, client) in enumerate(officers.items()):
        try:
            desk = DeskServer(client, tenant=tenant, access=access, port=8765 + i)
        except OSError:  # taken (a desk already running?): any free port
            desk = DeskServer(client, tenant=tenant, access=access, port=0)
        desk.start()
        desks.append(desk)
        console.print(
            f"alert desk of {tenant}: [bold]{desk.url}[/] (live while drones fly; sign in with "
            f"[bold]peacewatch tenants token {tenant} --role officer[/])",
            highlight=False,
        )
    return desks


def _publish_with_progress(
    console: Console,
    clients: dict[str, pulsar.Client],
    *,
    config: SimulationConfig,
    start: datetime,
    minutes: int,
) -> PublishStats:
    publisher = Publisher(clients, tenants=list(clients), seed=7)
    total = minutes * config.drones * len(clients)
    with Progress(TextColumn("[bold]history[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:  # fmt: skip
        task = progress.add_task("reports", total=total)
        stats = run_simulation(
            publisher, config=config, tenants=list(clients), start=start, minutes=minutes, speed=None,
            on_progress=lambda n: progress.advance(task, n),
        )  # fmt: skip
    publisher.close()
    return stats


def _wait_backlog(admin: PulsarAdmin, tenant: str, *, subscription: str, timeout_s: float = 300) -> int:
    """Until a subscription of the tenant's reports topic has caught up; the backlog left (0: caught up)."""
    deadline = time.monotonic() + timeout_s
    backlog = -1
    while time.monotonic() < deadline:
        stats = admin.topic_stats(TenantTopics(tenant).reports, partitioned=True)
        backlog = int(stats.get("subscriptions", {}).get(subscription, {}).get("msgBacklog", 0))
        if backlog == 0:
            return 0
        time.sleep(1)
    return backlog


def _wait_lake(
    settings: Settings,
    start: dict[str, int],
    published: dict[str, int],
    invalid: dict[str, int],
    timeout_s: float = 60,
) -> dict[str, int]:
    """Until each tenant's reports table holds every valid report published in this run; the
    reports still missing per tenant (empty: all there)."""
    deadline = time.monotonic() + timeout_s
    missing: dict[str, int] = {}
    while time.monotonic() < deadline:
        rows = {t: table_status(lake_table(settings, tenant=t, name="reports")).rows for t in published}
        missing = {t: published[t] - invalid[t] - (rows[t] - start[t]) for t in published}
        missing = {t: n for t, n in missing.items() if n > 0}
        if not missing:
            return {}
        time.sleep(1)
    return missing


def _wait_for(watcher: _Watcher, published: dict[str, int], timeout_s: float = 30.0) -> dict[str, int]:
    """Until the watcher has seen every published report; what it has not seen per tenant."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(watcher.received[t] < n for t, n in published.items()):
        time.sleep(0.2)
    return {t: n - watcher.received[t] for t, n in published.items() if watcher.received[t] < n}
