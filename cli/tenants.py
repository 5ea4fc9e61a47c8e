"""`peacewatch tenants ...`: onboard, inspect and remove police forces."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from peacewatch.cli.output import RichProgress
from peacewatch.cli.shown import line, plain, text
from peacewatch.lakehouse.access import LakeAccess, minio_errors
from peacewatch.platform.alert_settings import COOLDOWN_MAX_S, DEFAULT_ALERT_RUNTIME, THRESHOLD_MAX
from peacewatch.platform.auth import PERSON_LIFETIMES, mint_token, role_name, secret_key, token_expiry
from peacewatch.platform.clients import pulsar_admin
from peacewatch.platform.credentials import read_kit_credentials
from peacewatch.platform.errors import PeacewatchError
from peacewatch.platform.onboarded import current_generation, onboarded_tenants
from peacewatch.platform.reachability import require_unless_help
from peacewatch.platform.settings import Settings
from peacewatch.platform.steps import Step
from peacewatch.platform.topics import validate_tenant_name
from peacewatch.tenants import onboarding
from peacewatch.tenants.kube_kits import KubeSecrets, publish_kits, restore_kits
from peacewatch.tenants.onboarding import applied_spec, remove_tenant
from peacewatch.tenants.spec import AlertingSpec, RoleKind, TenantSpec, load_spec

app = typer.Typer(help="Police forces as tenants: onboarding, isolation, tokens.")
console = Console()


@app.callback()
def _needs(ctx: typer.Context) -> None:
    # Onboarding reaches both; `token` signs (after checking the force on the broker);
    # `credentials` only reads a kit.
    offline = ("credentials", "publish-kits", "restore-kits")  # read or write kits only
    require_unless_help(
        ctx.obj,
        pulsar=ctx.invoked_subcommand not in offline,
        minio=ctx.invoked_subcommand not in (*offline, "token"),
    )


def _show(value: Any) -> Text:
    shown: str = plain(value) if value is not None else "-"
    return text(shown if len(shown) <= 60 else shown[:57] + "...")


def _plan_table(spec: TenantSpec, steps: list[Step]) -> Table:
    # A spec's strings and the broker's answers are data: Text cells, never markup.
    table = Table("", "step", "now", "wanted", title=text(f"{spec.name} ({spec.display_name})"))
    for step in steps:
        if step.needed:
            table.add_row("[yellow]~[/]" if step.current else "[green]+[/]", text(step.what),
                          _show(step.current), _show(step.wanted))  # fmt: skip
    return table


def show_plan_of(spec: TenantSpec, steps: list[Step]) -> None:
    """The steps that would change, as a table (nothing when none would)."""
    if any(s.needed for s in steps):
        console.print(_plan_table(spec, steps))


def apply_spec(
    settings: Settings, spec: TenantSpec, *, dry_run: bool = False, with_function: bool = True,
    fresh_generation: bool = False,
) -> list[Step]:  # fmt: skip
    """onboarding.apply_spec, shown: the plan's table, each step done, what changed."""
    planned: list[Step] = []

    def show_plan(steps: list[Step]) -> None:
        planned.extend(steps)
        show_plan_of(spec, steps)

    needed = onboarding.apply_spec(
        settings, spec, dry_run=dry_run, with_function=with_function, fresh_generation=fresh_generation,
        progress=RichProgress(console),
        on_plan=show_plan, on_step=lambda s: console.print(line(("done", "green"), " ", s.what)),
    )  # fmt: skip
    if not needed:
        console.print(f"{spec.name}: up to date ({len(planned)} steps checked)")
    elif dry_run:
        console.print(f"{spec.name}: {len(needed)} of {len(planned)} steps would change (plan only)")
    else:
        console.print(f"{spec.name}: {len(needed)} changes applied")
    return needed


@app.command()
def add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Tenant name, e.g. north-precinct"),
    display_name: str | None = typer.Option(None, help="Human name of the force"),
    partitions: int = typer.Option(4, min=1, max=256, help="Partitions of the reports topic"),
    threshold: int = typer.Option(
        20, min=0, max=THRESHOLD_MAX, help="A peacescore below this raises an alert"
    ),
    cooldown: float = typer.Option(
        0.0, min=0, max=COOLDOWN_MAX_S, help="Seconds between alerts per citizen (0 = off)"
    ),
    alert_runtime: str = typer.Option(
        DEFAULT_ALERT_RUNTIME,
        help="The alert function's implementation: java (Pulsar's Java runtime) or python",
    ),
) -> None:
    """Onboard a force with default policies (use `apply FILE` for a full spec). Idempotent."""
    validate_tenant_name(name)
    if alert_runtime not in ("python", "java"):
        raise typer.BadParameter(f"{alert_runtime!r}: choose python or java", param_hint="--alert-runtime")
    spec = TenantSpec(
        name=name,
        display_name=display_name or name.replace("-", " ").title(),
        partitions=partitions,
        alerting=AlertingSpec(threshold=threshold, cooldown_s=cooldown, runtime=alert_runtime),  # type: ignore[arg-type]
    )
    apply_spec(ctx.obj, spec)


@app.command("apply")
def apply_(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., help="Tenant spec YAML file(s)"),
    new_generation: bool = typer.Option(
        False,
        "--new-generation",
        help="New role names for the force (its record was changed outside peacewatch); tokens handed "
        "out before stop working",
    ),
) -> None:
    """Make the platform match each spec: changes only what differs."""
    for spec in [load_spec(f) for f in files]:  # all files valid before anything changes
        apply_spec(ctx.obj, spec, fresh_generation=new_generation)


@app.command()
def renew(
    ctx: typer.Context,
    names: list[str] = typer.Argument(None, help="Forces (default: every onboarded one)"),
) -> None:
    """Renew what is due by applying each force's recorded spec again: kit tokens past
    `tokens.renew_after` of their life (the alert function redeployed with its renewed token), and
    whatever else drifted from the spec. Meant for a schedule (the chart runs it as a CronJob);
    running processes re-read their kit files."""
    settings: Settings = ctx.obj
    for name in names or []:
        validate_tenant_name(name)
    recorded, refused = onboarding.recorded_forces(settings)
    for tenant, why in refused.items():
        console.print(line(("skipped", "yellow"), f" {tenant}: {why}"), soft_wrap=True)
    chosen = [f for f in recorded if not names or f.spec.name in names]
    missing = sorted(set(names or []) - {f.spec.name for f in recorded})
    if missing:
        raise typer.BadParameter(f"not onboarded (or its record refused): {', '.join(missing)}")
    renewed: list[Step] = []
    onboarding.reapply_all(settings, chosen, progress=RichProgress(console), on_step=renewed.append)
    for step in renewed:
        console.print(line(("done", "green"), " ", step.what), soft_wrap=True)
    console.print(f"{len(renewed)} change(s) across {len(chosen)} force(s)")


@app.command()
def plan(
    ctx: typer.Context, files: list[Path] = typer.Argument(..., help="Tenant spec YAML file(s)")
) -> None:
    """Show what `apply` would change, and change nothing."""
    for spec in [load_spec(f) for f in files]:
        apply_spec(ctx.obj, spec, dry_run=True)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """Onboarded forces."""
    table = Table("tenant", "display name", "threshold", "partitions", "bucket")
    with pulsar_admin(ctx.obj) as admin:
        for tenant in onboarded_tenants(admin):
            spec = applied_spec(admin, tenant, signing_key=secret_key(ctx.obj))
            shown = (
                [text(spec.display_name), str(spec.alerting.threshold), str(spec.partitions)]
                if spec else ["-"] * 3
            )  # fmt: skip
            table.add_row(text(tenant), *shown, text(ctx.obj.tenant_bucket(tenant)))
    console.print(table)


@app.command()
def show(ctx: typer.Context, name: str = typer.Argument(...)) -> None:
    """A force's applied spec, and whether the platform still matches it."""
    validate_tenant_name(name)
    with pulsar_admin(ctx.obj) as admin:
        spec = applied_spec(admin, name, signing_key=secret_key(ctx.obj))
    if spec is None:
        raise PeacewatchError(
            f"tenant {name!r} was not onboarded with a spec: `peacewatch tenants add {name}`"
        )
    console.print("\n".join(plain(line) for line in spec.to_yaml().splitlines()), markup=False,
                  highlight=False)  # fmt: skip
    apply_spec(ctx.obj, spec, dry_run=True)


@app.command()
def remove(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    purge: bool = typer.Option(False, "--purge", help="Also delete its topics' data and its whole lake"),
) -> None:
    """Take a force off the platform. Refuses to delete data unless --purge."""
    validate_tenant_name(name)
    with minio_errors(), pulsar_admin(ctx.obj) as admin:
        done = remove_tenant(ctx.obj, admin, LakeAccess(ctx.obj), tenant=name, purge=purge)
    for item in done:
        console.print(line(("-", "red"), " ", item))
    if not done:
        console.print(f"{name}: nothing to remove")


@app.command()
def token(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Tenant"),
    role: str = typer.Option(..., "--role", "-r", help="fleet (drones) or officer (people following alerts)"),
    expires_days: float | None = typer.Option(
        None, min=0.001, max=365, help="Lifetime in days (default: fleet 90, officer 0.5)"
    ),
) -> None:
    """Print a token for one of the force's roles; its expiry goes to stderr."""
    settings: Settings = ctx.obj
    validate_tenant_name(name)
    if role == "analyst":
        raise PeacewatchError(
            "analysts have no Pulsar role: they read the force's lake, read-only - hand them its analyst "
            f"keys with `peacewatch tenants credentials {name} --kit analyst`"
        )
    if role not in PERSON_LIFETIMES:
        raise PeacewatchError(
            f"unknown role {role!r}: tokens are printed for fleet and officer (the lake and alerting roles "
            "are the platform's own, kept in its kits)"
        )
    with pulsar_admin(settings) as admin:
        key = secret_key(settings)
        spec = applied_spec(admin, name, signing_key=key)
        generation = current_generation(admin, name, signing_key=key)
    if spec is None or generation is None:
        raise PeacewatchError(
            f"{name!r} is not a force onboarded by peacewatch: `peacewatch tenants add {name}`"
        )
    lifetime = timedelta(days=expires_days) if expires_days else PERSON_LIFETIMES[role]
    kind: RoleKind = "fleet" if role == "fleet" else "officer"
    issued = mint_token(key, role=role_name(spec.role(kind), generation), expires_in=lifetime)
    expiry = token_expiry(issued)
    print(issued)
    Console(stderr=True).print(
        f"{role} token for {name}, expires {expiry:%Y-%m-%d %H:%M} UTC", highlight=False
    )


@app.command()
def credentials(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Tenant"),
    kit: str = typer.Option("analyst", help="analyst (read-only lake access, for notebooks and SQL clients)"),
) -> None:
    """Print the MinIO keys of a force's analyst kit as JSON (for notebooks and other SQL clients)."""
    validate_tenant_name(name)
    if kit != "analyst":
        raise PeacewatchError(
            "only the analyst kit is handed out: the others belong to the platform's processes"
        )
    creds = read_kit_credentials(ctx.obj, name, "analyst")
    print(json.dumps({"access_key": creds.access_key, "secret_key": creds.secret_key,
                      "endpoint": ctx.obj.minio.url, "bucket": ctx.obj.tenant_bucket(name)}))  # fmt: skip


_Forces = Annotated[list[str], typer.Argument(help="Forces whose kits to publish or restore")]
_SecretPrefix = Annotated[str, typer.Option("--secret-prefix", help="Secrets are named PREFIX-FORCE-KIT")]


def _in_cluster(names: list[str]) -> KubeSecrets:
    """The API server, once every force name is valid."""
    for name in names:
        validate_tenant_name(name)
    return KubeSecrets.in_cluster()


@app.command("publish-kits")
def publish_kits_(
    ctx: typer.Context,
    names: _Forces,
    prefix: _SecretPrefix,
) -> None:
    """In the onboarding Job: each force's kits (lake, analyst, upkeep, fleet, officer) as Kubernetes
    Secrets in the Job's namespace, for that force's workloads to mount."""
    labels = {"app.kubernetes.io/name": "peacewatch", "app.kubernetes.io/component": "credentials"}
    done = publish_kits(ctx.obj, _in_cluster(names), prefix=prefix, tenants=names, labels=labels)
    for secret, outcome in done:
        console.print(f"{outcome} Secret {secret}")


@app.command("restore-kits")
def restore_kits_(
    ctx: typer.Context,
    names: _Forces,
    prefix: _SecretPrefix,
) -> None:
    """In the onboarding Job, before `apply`: the kits an earlier run published, back into this
    Job's state (so an upgrade keeps the forces' keys and tokens)."""
    n = restore_kits(ctx.obj, _in_cluster(names), prefix=prefix, tenants=names)
    console.print(f"restored {n} kit(s)")
