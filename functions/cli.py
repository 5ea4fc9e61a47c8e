"""`peacewatch functions ...`"""

from __future__ import annotations

import typer
from peacewatch.functions.smoke_check import run_smoke
from peacewatch.platform.stack.manager import Stack
from rich.console import Console

app = typer.Typer(help="Pulsar Functions: deploy, watch and remove.")
console = Console()


@app.command()
def smoke(ctx: typer.Context) -> None:
    """Deploy a tiny Python function on the real worker, send it a message, read its output."""
    Stack(settings=ctx.obj, console=console).require_up()
    with console.status("Deploying the smoke function ..."):
        result = run_smoke(ctx.obj)
    console.print(
        f"[green]ok[/] sent {result.sent!r}, got {result.received!r} "
        f"(deployed in {result.deploy_s:.1f}s, round trip {result.roundtrip_ms:.0f} ms)"
    )
