"""`peacewatch lake ...`"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import time

import typer
from prometheus_client import CollectorRegistry
from rich.console import Console
from rich.live import Live
from rich.table import Table

from peacewatch.lakehouse.backlog import subscription_backlog
from peacewatch.lakehouse.batching import BatchPolicy
from peacewatch.lakehouse.batching_sink import SinkStats
from peacewatch.lakehouse.lake import lake_table
from peacewatch.lakehouse.sink import SUBSCRIPTION, DeltaSink, adopt_source
from peacewatch.lakehouse.sink_health import HealthOptions
from peacewatch.lakehouse.sink_monitor import SinkMonitor, WorkerMetrics
from peacewatch.lakehouse.upkeep import MIN_RETENTION_HOURS, check_retention, table_status
from peacewatch.lakehouse.upkeep import maintain as maintain_table
from peacewatch.platform.clients import kit_admin, kit_client, pulsar_admin
from peacewatch.platform.credentials import MINIO_KITS
from peacewatch.platform.errors import PeacewatchError
from peacewatch.platform.metrics_http import HealthCheck, MetricsServer
from peacewatch.platform.reachability import require, require_unless_help
from peacewatch.platform.resources import available_cpus, stop_with_parent
from peacewatch.platform.settings import Settings
from peacewatch.platform.topic_identity import source_identities, topic_identity
from peacewatch.platform.topics import TenantTopics, validate_tenant_name
from peacewatch.tenants.provisioning import onboarded_tenants

app = typer.Typer(help="The Delta lake on MinIO: the sink, its status and upkeep.")
console = Console()


@app.callback()
def _needs(ctx: typer.Context) -> None:
    # run and adopt-topic read the broker; status and maintain only the lake (and the broker to
    # list the forces when no -t is given: checked there).
    require_unless_help(ctx.obj, pulsar=ctx.invoked_subcommand in ("run", "adopt-topic"), minio=True)


def _tenants(settings: Settings, tenant: str | None) -> list[str]:
    if tenant:
        return [validate_tenant_name(tenant)]
    require(settings, pulsar=True)
    with pulsar_admin(settings) as admin:
        return onboarded_tenants(admin)


def _stats_line(tenant: str, stats: SinkStats) -> str:
    return (
        f"{tenant}: received {stats.received:,}, written {stats.written:,}, commits {stats.commits:,}, "
        f"invalid {stats.invalid:,}, duplicates skipped {stats.skipped_duplicates:,}, "
        f"retries {stats.retries:,}" + (f", held past a gap {stats.held_back:,}" if stats.held_back else "")
    )


@app.command()
def run(
    ctx: typer.Context,
    tenant: str = typer.Option(..., "--tenant", "-t"),
    name: str = typer.Option("sink", help="Consumer name (distinct per process when running several)"),
    max_rows: int = typer.Option(50_000, min=1, help="Flush a batch at this many rows"),
    max_age: float = typer.Option(1.0, min=0.1, help="... or when its first row is this many seconds old"),
    processes: int = typer.Option(
        0, min=0, help="Sink processes sharing the force's partitions (0: one per CPU this command may use)"
    ),
    metrics_port: int = typer.Option(
        0,
        min=0,
        max=65535,
        help="Serve /metrics and /healthz on this port (0: not served); with "
        "several processes, process i also serves its own on PORT+i",
    ),
    metrics_host: str = typer.Option("127.0.0.1", help="Address /metrics is served on (0.0.0.0 in a pod)"),
    stall_after: float = typer.Option(
        120.0, min=1.0, help="/healthz fails when messages wait and nothing was stored for this many seconds"
    ),
    worker: bool = typer.Option(False, hidden=True, help="One of several processes: no live display"),
) -> None:
    """Run the Delta sink of a tenant until interrupted (SIGINT/SIGTERM commit the batch in hand).

    Several processes (one per CPU by default) share the force's partitions: a sink spends most
    of its time in Python (the contract's checks, Arrow rows), so one process uses one core."""
    settings: Settings = ctx.obj
    validate_tenant_name(tenant)
    processes = processes or available_cpus()
    if processes > 1:
        options = ["--max-rows", str(max_rows), "--max-age", str(max_age), "--stall-after", str(stall_after),
                   "--metrics-host", metrics_host]  # fmt: skip
        _supervise(settings, tenant=tenant, name=name, processes=processes, metrics_port=metrics_port,
                   metrics_host=metrics_host, options=options)  # fmt: skip
        return
    # As the force's lake kit: its sink role and MinIO user reach that force's topics and lake only.
    with kit_admin(settings, tenant=tenant, kit="lake") as admin:
        sources = source_identities(admin, tenant)
    client = kit_client(settings, tenant=tenant, kit="lake", io_threads=2)
    try:
        sink = DeltaSink(settings, client, tenant=tenant, name=name, sources=sources,
                         policy=BatchPolicy(max_rows=max_rows, max_age_s=max_age))  # fmt: skip
    except BaseException:
        client.close()
        raise
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: sink.stop())
    # The sink allocates ~a million short-lived, acyclic objects a second (validated reports):
    # the cyclic GC's frequent scans of the start-up heap cost ~20% of its throughput (measured).
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    monitor: SinkMonitor | None = None
    server: MetricsServer | None = None
    try:
        if metrics_port:
            health = HealthOptions(stall_after_s=stall_after)
            monitor = SinkMonitor(sink, admin=kit_admin(settings, tenant=tenant, kit="lake"),
                                  subscription=SUBSCRIPTION, options=health)  # fmt: skip
            server = _metrics_server(monitor.registry(), monitor.check, host=metrics_host, port=metrics_port)
            monitor.start()
        if not worker:
            console.print(f"sink for {tenant} running (Ctrl-C to stop)")
        with Live(console=console, refresh_per_second=2, transient=worker) as live:
            last = 0.0

            def refresh() -> bool:
                nonlocal last
                if not worker and time.monotonic() - last > 0.5:
                    live.update(_stats_line(tenant, sink.stats))
                    last = time.monotonic()
                return False

            stats = sink.run(until=refresh)
    finally:
        if server is not None:
            server.stop()
        if monitor is not None:
            monitor.close()
        sink.close()
        client.close()
    console.print(_stats_line(f"{tenant} ({name})" if worker else tenant, stats))


def _metrics_server(
    registry: CollectorRegistry, health: HealthCheck, *, host: str, port: int
) -> MetricsServer:
    try:
        return MetricsServer(registry=registry, health=health, host=host, port=port).start()
    except OSError as exc:
        raise PeacewatchError(
            f"cannot serve /metrics on {host}:{port} ({exc.strerror}): choose another with --metrics-port"
        ) from None


def _supervise(
    settings: Settings, *, tenant: str, name: str, processes: int, metrics_port: int, metrics_host: str,
    options: list[str],
) -> None:  # fmt: skip
    """Run `processes` sink processes (consumers NAME-1..N of the force's subscription) until
    SIGINT/SIGTERM, which each of them gets; if one fails, the others are stopped too. With a
    metrics port, process i serves on PORT+i and this one on PORT: their metrics together, healthy
    while all of them are."""
    env = {**os.environ, "PEACEWATCH_STATE_DIR": str(settings.state_dir)}
    names = [f"{name}-{i}" for i in range(1, processes + 1)]
    ports = {n: metrics_port + i if metrics_port else 0 for i, n in enumerate(names, start=1)}
    children = {
        n: subprocess.Popen([sys.executable, "-m", "peacewatch.platform.cli", "lake", "run", "-t", tenant,
                             "--name", n, "--processes", "1", "--worker", "--metrics-port", str(ports[n]),
                             *options],
                            env=env, preexec_fn=stop_with_parent)
        for n in names
    }  # fmt: skip
    if metrics_port:
        workers = WorkerMetrics([f"http://127.0.0.1:{port}" for port in ports.values()])
        MetricsServer(
            registry=workers.registry(), health=workers.check, host=metrics_host, port=metrics_port
        ).start()
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    console.print(f"sink for {tenant} running in {processes} processes: {', '.join(names)} (Ctrl-C to stop)")
    while any(child.poll() is None for child in children.values()):
        if not stopping and any(child.returncode for child in children.values()):
            stop()  # one failed: the others go too
        time.sleep(0.2)
    failed = {n: child.returncode for n, child in children.items() if child.returncode}
    if failed:
        raise PeacewatchError(f"sink processes exited with errors: {failed} (their errors are above)")


@app.command("adopt-topic")
def adopt_topic(ctx: typer.Context, tenant: str = typer.Option(..., "--tenant", "-t")) -> None:
    """Make a force's tables follow its topics as they are now (after a topic was recreated or the
    broker's metadata was reset). Positions recorded for the old topics are left behind."""
    settings: Settings = ctx.obj
    validate_tenant_name(tenant)
    topics = TenantTopics(tenant)
    with pulsar_admin(settings) as admin:
        for name, topic in (("reports", topics.reports), ("alerts", topics.alerts)):
            where = lake_table(settings, tenant=tenant, name=name, kit="lake")  # type: ignore[arg-type]
            changed = adopt_source(where, topic=topic, source_id=topic_identity(admin, topic))
            console.print(
                f"{tenant}/{name}: " + ("now follows " + topic if changed else "already follows " + topic)
            )


@app.command()
def status(
    ctx: typer.Context,
    tenant: str | None = typer.Option(None, "--tenant", "-t"),
    kit: str = typer.Option("analyst", help="Read as this kit: analyst, or lake (a sink's own probe)"),
) -> None:
    """Tables, versions, rows, files, freshness and messages waiting for the sinks, per tenant."""
    settings: Settings = ctx.obj
    if kit not in MINIO_KITS:
        raise PeacewatchError(f"--kit {kit!r}: the lake is read as one of {', '.join(MINIO_KITS)}")
    table = Table("tenant", "table", "version", "rows", "files", "size", "last commit", "lag", "freshness",
                  "waiting")  # fmt: skip
    for t in _tenants(settings, tenant):
        waiting = _waiting(settings, t, kit=kit)
        for name in ("reports", "alerts"):
            st = table_status(lake_table(settings, tenant=t, name=name, kit=kit))  # type: ignore[arg-type]
            behind = waiting.get(name)
            if not st.exists:
                table.add_row(t, name, "-", "-", "-", "-", "not created yet", "-", "-", _count(behind))
                continue
            lag, fresh = st.lag_s, st.freshness_s
            table.add_row(
                t, name, str(st.version), f"{st.rows:,}", str(st.files), f"{st.size_bytes / 1e6:.1f} MB",
                st.last_commit.strftime("%Y-%m-%d %H:%M:%S") if st.last_commit else "-",
                f"{lag:.0f}s" if lag is not None else "-", f"{fresh:.1f}s" if fresh is not None else "-",
                _count(behind),
            )  # fmt: skip
    console.print(table)


def _count(n: int | None) -> str:
    return f"{n:,}" if n is not None else "-"


def _waiting(settings: Settings, tenant: str, *, kit: str) -> dict[str, int | None]:
    """Each table's messages waiting for the sinks, as the broker counts them (the sinks' metric
    `peacewatch_sink_backlog_messages`, summed); empty where the broker cannot be asked."""
    topics = TenantTopics(tenant)
    try:
        admin = kit_admin(settings, tenant=tenant, kit="lake") if kit == "lake" else pulsar_admin(settings)
        with admin:
            return {
                name: sum(p.backlog for p in subscription_backlog(admin, topic, subscription=SUBSCRIPTION))
                for name, topic in (("reports", topics.reports), ("alerts", topics.alerts))
            }
    except (PeacewatchError, OSError):  # no broker, or no key to ask it with: the lake's figures still show
        return {}


@app.command()
def maintain(
    ctx: typer.Context,
    tenant: str | None = typer.Option(None, "--tenant", "-t"),
    retention_hours: float = typer.Option(168.0, min=0, help="Vacuum files unreferenced for this long"),
    force: bool = typer.Option(
        False,
        "--force",
        help=f"Allow a retention below {MIN_RETENTION_HOURS:g} h (only with no sink running)",
    ),
) -> None:
    """Compact small files, write a checkpoint, vacuum old files. Safe while the sink runs."""
    settings: Settings = ctx.obj
    check_retention(retention_hours, force=force)  # before touching any table
    for t in _tenants(settings, tenant):
        for name in ("reports", "alerts"):
            result = maintain_table(
                lake_table(settings, tenant=t, name=name, kit="upkeep"),
                retention_hours=retention_hours,
                force=force,
            )  # type: ignore[arg-type]
            if result is None:
                console.print(f"{t}/{name}: no table yet")
                continue
            console.print(
                f"{t}/{name}: compacted {result.files_removed} files into {result.files_added}, "
                f"checkpoint at version {result.checkpoint_version}, vacuumed {result.vacuumed_files} files"
            )


@app.command("spark-server")
def spark_server(
    ctx: typer.Context,
    tenant: str = typer.Option(..., "--tenant", "-t", help="The force whose lake this Spark reads"),
    port: int = typer.Option(15002, min=1, max=65535, help="Spark Connect port (one per force)"),
    metrics_port: int = typer.Option(0, min=0, max=65535, help="Serve /metrics and /healthz here (0: not)"),
) -> None:
    """A warm Spark for one force (Spark Connect, its analyst keys only): `peacewatch sql --engine
    spark` and `analyze` use it instead of starting a JVM each time. Runs until Ctrl-C."""
    from peacewatch.lakehouse.spark_connect import find_server, serve, server_log

    settings: Settings = ctx.obj
    validate_tenant_name(tenant)
    running = find_server(settings, tenant)
    if running is not None:
        raise PeacewatchError(f"{tenant}'s Spark server already runs ({running.url}, pid {running.pid})")
    log = server_log(settings, tenant)
    console.print(
        f"Spark Connect for {tenant} on sc://127.0.0.1:{port}, log {log} (Ctrl-C to stop)", highlight=False
    )
    code = serve(settings, tenant=tenant, port=port, metrics_port=metrics_port)
    if code not in (0, 130, -2, 143, -15):
        raise PeacewatchError(f"the Spark server exited with status {code}: see {log}")
