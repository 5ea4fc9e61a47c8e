"""`peacewatch simulate`"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from peacewatch.platform.auth import superuser_token
from peacewatch.platform.clients import kit_client, pulsar_admin
from peacewatch.platform.errors import PeacewatchError
from peacewatch.platform.onboarded import require_onboarded
from peacewatch.platform.reachability import require
from peacewatch.platform.settings import Settings
from peacewatch.platform.topics import validate_tenant_name
from peacewatch.simulator.config import SimulationConfig
from peacewatch.simulator.publisher import Publisher, run_simulation

console = Console()


def _check_onboarded(settings: Settings, tenants: list[str]) -> None:
    require(settings, pulsar=True)
    for tenant in tenants:
        validate_tenant_name(tenant)
    if superuser_token(settings) is None:
        return  # a fleet's own pod (Kubernetes): its kit is the proof; a missing one is a TokenError
    with pulsar_admin(settings) as admin:
        for tenant in tenants:
            require_onboarded(admin, tenant)


def simulate(
    ctx: typer.Context,
    tenant: list[str] = typer.Option(..., "--tenant", "-t", help="Tenant(s) whose fleet to simulate"),
    drones: int = typer.Option(50, min=1, help="Drones per tenant"),
    speed: float = typer.Option(600.0, min=0.01, help="Simulated seconds per wall second (1 = real time)"),
    minutes: int = typer.Option(60, min=1, help="Simulated minutes to run"),
    backfill_days: float = typer.Option(
        0.0, min=0, help="Backfill this many days up to now, as fast as possible (ignores --speed/--minutes)"
    ),
    start: datetime | None = typer.Option(None, help="Simulated start time (UTC); default now"),
    seed: int = typer.Option(42, help="Same seed, same reports"),
    bad_rate: float = typer.Option(0.0, min=0, max=1, help="Share of malformed reports to inject"),
    bad_report_rate: float = typer.Option(0.0075, min=0, max=0.5, help="Share of reports with a bad score"),
) -> None:
    """Simulate drone fleets publishing one report per drone per simulated minute."""
    settings: Settings = ctx.obj
    _check_onboarded(settings, tenant)
    config = SimulationConfig(drones=drones, seed=seed, bad_report_rate=bad_report_rate)
    now = datetime.now(UTC)
    if backfill_days:
        minutes = int(backfill_days * 1440)
        begin = now - timedelta(minutes=minutes)
        pace: float | None = None
    else:
        begin = (start.replace(tzinfo=start.tzinfo or UTC)) if start else now
        pace = speed
    expected = minutes * drones * len(tenant)
    # Each fleet publishes with its own force's token: it may produce reports there and nowhere else.
    clients = {t: kit_client(settings, tenant=t, kit="fleet") for t in tenant}
    publisher = Publisher(clients, tenants=tenant, bad_rate=bad_rate, seed=seed)
    try:
        with Progress(
            TextColumn("[bold]simulate[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>8.0f} reports/s"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("reports", total=expected, rate=0.0)

            def advance(n: int) -> None:
                progress.advance(task, n)
                elapsed = progress.tasks[task].elapsed or 0.0
                progress.update(task, rate=progress.tasks[task].completed / elapsed if elapsed else 0.0)

            stats = run_simulation(
                publisher,
                config=config,
                tenants=tenant,
                start=begin,
                minutes=minutes,
                speed=pace,
                on_progress=advance,
            )
    finally:
        publisher.close()
        for client in clients.values():
            client.close()
    table = Table("tenant", "reports sent")
    for t, n in stats.per_tenant.items():
        table.add_row(t, f"{n:,}")
    console.print(table)
    console.print(f"acked {stats.acked:,}, failed {stats.failed:,}, malformed injected {stats.malformed:,}")
    if stats.failed:
        raise PeacewatchError(f"{stats.failed} reports were not accepted by the broker: {stats.errors[:3]}")
