"""`peacewatch functions ...` and `peacewatch alerts ...`"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from peacewatch.cli.output import RichProgress
from peacewatch.cli.shown import line, text
from peacewatch.functions.deploy.alerting import ALERT_FUNCTION_NAME, deploy_alerting
from peacewatch.functions.deploy.smoke_check import run_smoke
from peacewatch.functions.desk.access import DeskAccess
from peacewatch.functions.desk.server import DeskServer
from peacewatch.functions.desk.tail import follow_alerts, parse_since
from peacewatch.functions.runtime.decision import AlertConfig
from peacewatch.platform.alert_settings import COOLDOWN_MAX_S, PARALLELISM_MAX, THRESHOLD_MAX
from peacewatch.platform.clients import kit_admin, kit_client, pulsar_admin
from peacewatch.platform.errors import DeskUnavailable, PeacewatchError
from peacewatch.platform.kit_metrics import KitExpiry
from peacewatch.platform.onboarded import require_onboarded
from peacewatch.platform.reachability import require, require_unless_help
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.manager import Stack
from peacewatch.platform.topics import NAMESPACE, validate_tenant_name

app = typer.Typer(help="Pulsar Functions: deploy, watch and remove.")
alerts_app = typer.Typer(help="The officers' alert feed.")
console = Console()


@app.callback()
def _needs(ctx: typer.Context) -> None:
    require_unless_help(ctx.obj, pulsar=True)


@alerts_app.callback()
def _needs_alerts(ctx: typer.Context) -> None:
    require_unless_help(ctx.obj, pulsar=True)


@app.command()
def deploy(
    ctx: typer.Context,
    tenant: str = typer.Option(..., "--tenant", "-t", help="Tenant whose alert function to deploy"),
    threshold: int = typer.Option(
        20, min=0, max=THRESHOLD_MAX, help="A peacescore below this raises an alert"
    ),
    cooldown: float = typer.Option(
        0.0, "--cooldown", min=0, max=COOLDOWN_MAX_S, help="Seconds between alerts per citizen (0 = off)"
    ),
    parallelism: int = typer.Option(1, min=1, max=PARALLELISM_MAX, help="Function instances"),
) -> None:
    """Package and create (or update) the tenant's alert function on the functions worker."""
    settings: Settings = ctx.obj
    validate_tenant_name(tenant)
    config = AlertConfig(threshold=threshold, cooldown_s=cooldown)
    with pulsar_admin(settings) as admin:
        require_onboarded(admin, tenant)
    # As the force's alerting role: its instances run with that role's token, not the platform's.
    with (
        kit_admin(settings, tenant=tenant, kit="alerting") as as_force,
        console.status(f"Deploying {tenant}/{NAMESPACE}/{ALERT_FUNCTION_NAME} ..."),
    ):
        outcome = deploy_alerting(
            settings,
            as_force,
            tenant=tenant,
            config=config,
            parallelism=parallelism,
            progress=RichProgress(console),
        )
    console.print(
        f"[green]{outcome}[/] {tenant}/{NAMESPACE}/{ALERT_FUNCTION_NAME}: threshold {threshold}, "
        f"cooldown {cooldown:g}s, parallelism {parallelism}"
    )


@app.command()
def status(ctx: typer.Context, tenant: str = typer.Option(..., "--tenant", "-t")) -> None:
    """Instances of the tenant's alert function: running, processed, errors, latency."""
    validate_tenant_name(tenant)
    with pulsar_admin(ctx.obj) as admin:
        if admin.get_function(tenant, NAMESPACE, ALERT_FUNCTION_NAME) is None:
            raise PeacewatchError(
                f"no alert function for {tenant!r}: run `peacewatch functions deploy -t {tenant}`"
            )
        st = admin.function_status(tenant, NAMESPACE, ALERT_FUNCTION_NAME)
    table = Table(
        "instance", "running", "received", "processed", "user errors", "system errors", "avg ms", "error"
    )
    for inst in st.get("instances", []):
        s = inst["status"]
        table.add_row(
            str(inst["instanceId"]), "yes" if s["running"] else "[red]no[/]", str(s["numReceived"]),
            str(s["numSuccessfullyProcessed"]), str(s["numUserExceptions"]), str(s["numSystemExceptions"]),
            f"{s['averageLatency']:.2f}", text(s.get("error") or ""),
        )  # fmt: skip
    console.print(
        f"{tenant}/{NAMESPACE}/{ALERT_FUNCTION_NAME}: {st['numRunning']}/{st['numInstances']} running"
    )
    console.print(table)


@app.command()
def delete(ctx: typer.Context, tenant: str = typer.Option(..., "--tenant", "-t")) -> None:
    """Remove the tenant's alert function (its topics and data stay)."""
    validate_tenant_name(tenant)
    with pulsar_admin(ctx.obj) as admin:
        gone = admin.delete_function(tenant, NAMESPACE, ALERT_FUNCTION_NAME)
    console.print("deleted" if gone else "there was no alert function")


@app.command()
def smoke(ctx: typer.Context) -> None:
    """Deploy a tiny Python function on the real worker, send it a message, read its output."""
    Stack(settings=ctx.obj, progress=RichProgress(console)).require_up()
    with console.status("Deploying the smoke function ..."):
        result = run_smoke(ctx.obj)
    console.print(
        f"[green]ok[/] sent {result.sent!r}, got {result.received!r} "
        f"(deployed in {result.deploy_s:.1f}s, round trip {result.roundtrip_ms:.0f} ms)"
    )


@alerts_app.command()
def tail(
    ctx: typer.Context,
    tenant: str = typer.Option(..., "--tenant", "-t"),
    since: str | None = typer.Option(
        None, help="Start this far back, e.g. 10m, 2h (default: new alerts only)"
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line, for machines"),
    limit: int | None = typer.Option(None, min=1, help="Stop after this many alerts"),
    idle_timeout: float | None = typer.Option(
        None, min=0.1, help="Stop after this many seconds without alerts"
    ),
) -> None:
    """Follow the tenant's alert log live."""
    validate_tenant_name(tenant)
    window = parse_since(since) if since else None
    client = kit_client(ctx.obj, tenant=tenant, kit="officer")  # what an officer may read, no more
    try:
        for alert in follow_alerts(
            client, tenant=tenant, since=window, idle_timeout_s=idle_timeout, limit=limit
        ):
            if as_json:
                print(json.dumps(alert), flush=True)
                continue
            seen = datetime.fromisoformat(alert["ts"]).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
            console.print(alert_line(alert, seen=seen), highlight=False, soft_wrap=True)
    except KeyboardInterrupt:
        pass
    finally:
        client.close()


def alert_line(alert: dict[str, Any], *, seen: str) -> Text:
    """One alert for a terminal. Every field came from a drone: data, never markup (cli.shown)."""
    return line(
        ("ALERT", "bold red"), f" {seen}  ", (alert["citizen"], "bold"), f" ({alert['citizen_id']}) ",
        "peacescore ", (alert["peacescore"], "red"), f" < {alert['threshold']}  ",
        f"drone {alert['drone']} at {alert['lat']:.5f},{alert['lon']:.5f}",
    )  # fmt: skip


def desk(
    ctx: typer.Context,
    tenant: str = typer.Option(..., "--tenant", "-t", help="The force whose alerts to show"),
    host: str = typer.Option("127.0.0.1", help="Address to serve on (0.0.0.0 in a container)"),
    port: int = typer.Option(8765, min=0, max=65535, help="Port to serve on (0: any free one)"),
    since: str = typer.Option("1h", help="Show the alerts raised this far back at once, e.g. 10m, 2h"),
    metrics_port: int = typer.Option(0, min=0, max=65535, help="Port of /metrics (0: any free one)"),
    allowed_host: list[str] = typer.Option(
        ["127.0.0.1", "localhost"],
        "--allowed-host",
        help="A host name the page is reached under (repeat; others get 421), e.g. the Service's name",
    ),
) -> None:
    """The force's alert desk: a web page with its alerts live (feed and map), for its officers
    (they sign in with their officer token)."""
    settings: Settings = ctx.obj
    validate_tenant_name(tenant)
    window = parse_since(since)
    hosts = frozenset(h.strip().lower() for h in allowed_host)
    for h in hosts:
        if not h or not all(c.isalnum() or c in ".-:[]" for c in h):
            raise PeacewatchError(f"invalid --allowed-host {h!r}: give a host name such as desk.police.svc")
    require(settings, pulsar=True)
    access = DeskAccess(web_url=settings.pulsar.web_url, allowed_hosts=hosts)
    client = kit_client(settings, tenant=tenant, kit="officer")  # what an officer may read, no more
    try:
        server = DeskServer(client, tenant=tenant, access=access, host=host, port=port,
                            metrics_port=metrics_port, since=window,
                            collectors=[KitExpiry(settings, tenant=tenant, kits=["officer"])])  # fmt: skip
    except OSError as exc:
        client.close()
        raise DeskUnavailable(
            f"cannot serve on {host}:{port} ({exc.strerror}): choose another with --port"
        ) from None
    server.start()
    assert server.metrics is not None
    console.print(
        f"alert desk for {tenant}: [bold]{server.url}[/] (Ctrl-C to stop; officers sign in with their "
        f"token; /metrics on port {server.metrics.port})",
        highlight=False,
    )
    try:
        while True:
            time.sleep(1)
            if server.read_error is not None:
                raise DeskUnavailable(f"reading the alerts of {tenant} failed: {server.read_error}")
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        client.close()
