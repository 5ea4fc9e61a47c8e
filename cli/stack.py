"""`peacewatch stack ...`"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from peacewatch.cli.output import RichProgress
from peacewatch.cli.shown import line
from peacewatch.cli.tenants import show_plan_of
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.install import ensure_helm, ensure_prometheus
from peacewatch.platform.stack.manager import ComponentStatus, Stack
from peacewatch.tenants.onboarding import reapply_all, recorded_forces

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
    Stack(settings=ctx.obj, progress=RichProgress(console)).install()
    if helm:
        ensure_helm(ctx.obj, progress=RichProgress(console))
    if prometheus:
        ensure_prometheus(ctx.obj, progress=RichProgress(console))


@app.command()
def up(ctx: typer.Context) -> None:
    """Start Pulsar and MinIO (installing them first if needed); waits until both answer."""
    settings: Settings = ctx.obj
    rows = Stack(settings=settings, progress=RichProgress(console)).up()
    console.print(_table(rows))


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop the processes `stack up` started (and nothing else)."""
    stopped = Stack(settings=ctx.obj, progress=RichProgress(console)).down()
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@app.command()
def status(ctx: typer.Context) -> None:
    """Health, version, ports and pid of each component."""
    rows = Stack(settings=ctx.obj, progress=RichProgress(console)).status()
    console.print(_table(rows))
    if not all(r.healthy for r in rows):
        raise typer.Exit(1)


@app.command("rotate-key")
def rotate_key(ctx: typer.Context) -> None:
    """New token signing key: the broker restarts on it, the platform's and the forces' kit tokens
    are re-issued and the alert functions redeployed. Tokens handed out before stop working
    (drones and officers need new ones: `peacewatch tenants token`)."""
    settings: Settings = ctx.obj
    progress = RichProgress(console)
    # Read (and verify) the records with the key that signed them, before it changes.
    recorded, refused = recorded_forces(settings)
    for tenant, why in refused.items():  # never acted on; the rest are rotated
        console.print(line(("skipped", "yellow"), f" {tenant}: {why}"), soft_wrap=True)
    Stack(settings=settings, progress=progress).rotate_key()
    forces = reapply_all(
        settings, recorded, progress=progress, on_plan=show_plan_of,
        on_step=lambda s: console.print(line(("done", "green"), " ", s.what)),
    )  # fmt: skip
    console.print(f"re-issued the tokens of {len(forces)} force(s): {', '.join(forces) or '-'}")
