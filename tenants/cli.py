"""`peacewatch tenants ...`"""

from __future__ import annotations

import typer
from rich.console import Console

from peacewatch.platform.clients import pulsar_admin
from peacewatch.platform.topics import validate_tenant_name
from peacewatch.tenants.provisioning import onboarded_tenants, provision_topics

app = typer.Typer(help="Police forces as Pulsar tenants.")
console = Console()


@app.command()
def add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Tenant name, e.g. north-precinct"),
    partitions: int = typer.Option(4, min=1, max=256, help="Partitions of the reports topic"),
) -> None:
    """Create the tenant, its `drones` namespace, topics and registered schemas (idempotent)."""
    validate_tenant_name(name)
    with pulsar_admin(ctx.obj) as admin:
        result = provision_topics(admin, tenant=name, partitions=partitions)
    if result.changes:
        for change in result.changes:
            console.print(f"[green]+[/] {change}")
    else:
        console.print(f"{name}: already up to date")


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """Tenants that have a `drones` namespace."""
    with pulsar_admin(ctx.obj) as admin:
        for tenant in onboarded_tenants(admin):
            console.print(tenant)
