"""`peacewatch lake ...`"""

from __future__ import annotations

import gc
import signal
import sys
import time

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from peacewatch.lakehouse.ingest.backlog import subscription_backlog
from peacewatch.lakehouse.ingest.batching import BatchPolicy
from peacewatch.lakehouse.ingest.batching_sink import SinkStats
from peacewatch.lakehouse.ingest.run import MetricsOptions, run_sink, supervise_sinks
from peacewatch.lakehouse.ingest.sink import SUBSCRIPTION, DeltaSink, adopt_source
from peacewatch.lakehouse.lake import lake_table
from peacewatch.lakehouse.upkeep import MIN_RETENTION_HOURS, check_retention, table_status
from peacewatch.lakehouse.upkeep import maintain as maintain_table
from peacewatch.platform.clients import kit_admin, pulsar_admin
from peacewatch.platform.credentials import MINIO_KITS
from peacewatch.platform.errors import PeacewatchError
from peacewatch.platform.onboarded import onboarded_tenants
from peacewatch.platform.reachability import require, require_unless_help
from peacewatch.platform.resources import available_cpus
from peacewatch.platform.settings import Settings
from peacewatch.platform.topic_identity import topic_identity
from peacewatch.platform.topics import TenantTopics, validate_tenant_name

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
    metrics = (
        MetricsOptions(port=metrics_port, host=metrics_host, stall_after_s=stall_after)
        if metrics_port
        else None
    )
    if processes > 1:
        names = [f"{name}-{i}" for i in range(1, processes + 1)]
        options = ["--max-rows", str(max_rows), "--max-age", str(max_age), "--stall-after", str(stall_after),
                   "--metrics-host", metrics_host]  # fmt: skip

        def command(worker_name: str, port: int) -> list[str]:
            return [sys.executable, "-m", "peacewatch.cli.app", "lake", "run", "-t", tenant,
                    "--name", worker_name, "--processes", "1", "--worker", "--metrics-port", str(port),
                    *options]  # fmt: skip

        console.print(
            f"sink for {tenant} running in {processes} processes: {', '.join(names)} (Ctrl-C to stop)"
        )
        supervise_sinks(settings, names=names, command=command, metrics=metrics)
        return

    def on_start(sink: DeltaSink) -> None:
        # The sink allocates ~a million short-lived, acyclic objects a second (validated reports):
        # the cyclic GC's frequent scans of the start-up heap cost ~20% of its throughput (measured).
        gc.freeze()
        gc.set_threshold(100_000, 50, 100)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: sink.stop())
        running.append(sink)
        if not worker:
            console.print(f"sink for {tenant} running (Ctrl-C to stop)")

    running: list[DeltaSink] = []
    with Live(console=console, refresh_per_second=2, transient=worker) as live:
        last = 0.0

        def refresh() -> bool:
            nonlocal last
            if running and not worker and time.monotonic() - last > 0.5:
                live.update(_stats_line(tenant, running[0].stats))
                last = time.monotonic()
            return False

        policy = BatchPolicy(max_rows=max_rows, max_age_s=max_age)
        stats = run_sink(settings, tenant=tenant, name=name, policy=policy, metrics=metrics,
                         on_start=on_start, until=refresh)  # fmt: skip
    console.print(_stats_line(f"{tenant} ({name})" if worker else tenant, stats))


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
    from peacewatch.lakehouse.query.spark_connect import find_server, serve, server_log

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
