"""`peacewatch stack ...`"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.install import ensure_helm, ensure_prometheus
from peacewatch.platform.stack.manager import ComponentStatus, Stack

app = typer.Typer(help="The local stack: Apache Pulsar standalone (with functions worker) and MinIO.")
console = Console()


def _table(rows: list[ComponentStatus]) -> Table:
    table = Table("component", "health", "version", "ports", "pid", "detail")
    for r in rows:
        table.add_row(
            r.name,
            "[green]healthy[/]" if r.healthy else "[red]down[/]",
            r.version or "-",
            r.ports,
            str(r.pid) if r.pid else "-",
            r.detail,
        )
    return table


@app.command()
def install(
    ctx: typer.Context,
    helm: bool = typer.Option(False, "--helm", help="Also build the helm CLI (for the chart's tests)"),
    prometheus: bool = typer.Option(
        False, "--prometheus", help="Also build Prometheus (for the metrics test)"
    ),
) -> None:
    """Download and build the stack's components into the cache (no start)."""
    Stack(settings=ctx.obj, console=console).install()
    if helm:
        ensure_helm(ctx.obj, console=console)
    if prometheus:
        ensure_prometheus(ctx.obj, console=console)


@app.command()
def up(ctx: typer.Context) -> None:
    """Start Pulsar and MinIO (installing them first if needed); waits until both answer."""
    settings: Settings = ctx.obj
    rows = Stack(settings=settings, console=console).up()
    console.print(_table(rows))


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop the processes `stack up` started (and nothing else)."""
    stopped = Stack(settings=ctx.obj, console=console).down()
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@app.command()
def status(ctx: typer.Context) -> None:
    """Health, version, ports and pid of each component."""
    rows = Stack(settings=ctx.obj, console=console).status()
    console.print(_table(rows))
    if not all(r.healthy for r in rows):
        raise typer.Exit(1)
