"""The `peacewatch` command. Settings are built once here and passed down through ctx.obj."""

from __future__ import annotations

import sys
from pathlib import Path

import pulsar
import typer
from deltalake.exceptions import DeltaError
from pydantic import ValidationError
from rich.console import Console

from peacewatch.functions.cli import alerts_app, desk
from peacewatch.functions.cli import app as functions_app
from peacewatch.lakehouse.analysis_cli import analyze, sql
from peacewatch.lakehouse.cli import app as lake_app
from peacewatch.platform.errors import PeacewatchError
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.cli import app as stack_app
from peacewatch.platform.stack.manager import Stack
from peacewatch.simulator.cli import simulate
from peacewatch.tenants.cli import app as tenants_app
from peacewatch.tenants.cli import reapply_all

app = typer.Typer(
    name="peacewatch",
    help="Drone telemetry platform: Pulsar, Pulsar Functions, Delta Lake on MinIO, Spark SQL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(stack_app, name="stack")
app.add_typer(tenants_app, name="tenants")
app.add_typer(functions_app, name="functions")
app.add_typer(alerts_app, name="alerts")
app.add_typer(lake_app, name="lake")
app.command()(simulate)
app.command()(sql)
app.command()(analyze)
app.command()(desk)


@stack_app.command("rotate-key")
def rotate_key(ctx: typer.Context) -> None:
    """New token signing key: the broker restarts on it, the platform's and the forces' kit tokens
    are re-issued and the alert functions redeployed. Tokens handed out before stop working
    (drones and officers need new ones: `peacewatch tenants token`)."""
    settings: Settings = ctx.obj
    console = Console()
    Stack(settings=settings, console=console).rotate_key()
    forces = reapply_all(settings)
    console.print(f"re-issued the tokens of {len(forces)} force(s): {', '.join(forces) or '-'}")


@app.command()
def demo(
    ctx: typer.Context,
    drones: int = typer.Option(40, min=1, help="Drones per example tenant"),
    minutes: int = typer.Option(180, min=1, help="Simulated minutes"),
    speed: float = typer.Option(600.0, min=1, help="Simulated seconds per wall second"),
) -> None:
    """The main job: stack up, example tenants, simulated drones, reports flowing."""
    from peacewatch.platform.demo import run_demo  # Spark and friends load only for the demo

    run_demo(ctx.obj, console=Console(), drones=drones, minutes=minutes, speed=speed)


@app.callback()
def _root(
    ctx: typer.Context,
    state_dir: Path | None = typer.Option(
        None, envvar="PEACEWATCH_STATE_DIR", help="Runtime state directory"
    ),
) -> None:
    ctx.obj = Settings(state_dir=state_dir) if state_dir else Settings()


def main() -> None:
    err = Console(stderr=True)
    try:
        app()
    except PeacewatchError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        err.print(f"[red]error:[/] invalid setting {loc}: {first['msg']}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except pulsar.PulsarException as exc:
        # The broker went away (or refused) in the middle of a command: one line, not a trace.
        err.print(
            f"[red]error:[/] Pulsar: {type(exc).__name__}: {str(exc) or 'no answer'} "
            "(is it running? `peacewatch stack status`)",
            highlight=False, soft_wrap=True,
        )  # fmt: skip
        sys.exit(1)
    except (DeltaError, OSError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        err.print(
            f"[red]error:[/] the lake (MinIO / Delta): {detail} "
            "(is MinIO running? `peacewatch stack status`)",
            highlight=False, soft_wrap=True,
        )  # fmt: skip
        sys.exit(1)


if __name__ == "__main__":
    main()
