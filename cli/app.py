"""The `peacewatch` command. Settings are built once here and passed down through ctx.obj."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import pulsar
import typer
from deltalake.exceptions import TableNotFoundError
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from peacewatch.cli.analyze import analyze, sql
from peacewatch.cli.functions import alerts_app, desk
from peacewatch.cli.functions import app as functions_app
from peacewatch.cli.kube import app as kube_app
from peacewatch.cli.lake import app as lake_app
from peacewatch.cli.shown import plain
from peacewatch.cli.simulate import simulate
from peacewatch.cli.stack import app as stack_app
from peacewatch.cli.tenants import app as tenants_app
from peacewatch.platform.errors import InvalidConfig, PeacewatchError
from peacewatch.platform.settings import Settings

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
app.add_typer(kube_app, name="kube")
app.command()(simulate)
app.command()(sql)
app.command()(analyze)
app.command()(desk)


@app.command()
def demo(
    ctx: typer.Context,
    drones: int = typer.Option(40, min=1, help="Drones per example tenant"),
    minutes: int = typer.Option(180, min=1, help="Simulated minutes"),
    speed: float = typer.Option(600.0, min=1, help="Simulated seconds per wall second"),
) -> None:
    """The main job: stack up, example tenants, simulated drones, reports flowing."""
    from peacewatch.cli.demo import run_demo  # Spark and friends load only for the demo

    run_demo(ctx.obj, console=Console(), drones=drones, minutes=minutes, speed=speed)


@app.callback()
def _root(
    ctx: typer.Context,
    state_dir: Path | None = typer.Option(
        None, envvar="PEACEWATCH_STATE_DIR", help="Runtime state directory"
    ),
) -> None:
    try:
        ctx.obj = Settings(state_dir=state_dir) if state_dir else Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InvalidConfig(f"invalid setting {loc}: {first['msg']} (check PEACEWATCH_* variables)") from None


# The broker away or refusing, in the middle of a command (before it, `require` says so).
_BROKER_AWAY = (
    pulsar.ConnectError,
    pulsar.Timeout,
    pulsar.AuthenticationError,
    pulsar.AuthorizationError,
    pulsar.NotConnected,
    pulsar.AlreadyClosed,
    pulsar.ServiceUnitNotReady,
    pulsar.LookupError,
)


def _one_line(err: Console, message: str) -> None:
    # Messages quote names and files given to us: printed as data, never as markup.
    err.print(Text.assemble(("error:", "red"), " ", plain(message)), highlight=False, soft_wrap=True)


def main() -> None:
    """The project's typed errors, and the broker or the lake going away mid-command, are one line;
    anything else is a bug: its traceback is printed, and said to be one."""
    err = Console(stderr=True)
    try:
        app()
    except PeacewatchError as exc:
        _one_line(err, str(exc))
        sys.exit(1)
    except _BROKER_AWAY as exc:
        what = f"{type(exc).__name__}: {str(exc) or 'no answer'}"
        _one_line(err, f"Pulsar: {what} (is it running? `peacewatch stack status`)")
        sys.exit(1)
    except TableNotFoundError as exc:
        _one_line(err, f"no such Delta table ({exc}): is the force onboarded? `peacewatch tenants list`")
        sys.exit(1)
    except OSError as exc:
        if exc.errno is not None or exc.filename is not None:
            raise  # a local file or socket: not the lake's doing (a bug, or a message we owe)
        # delta-rs reports object-store failures as a bare OSError
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _one_line(err, f"the lake (MinIO / Delta): {detail} (is MinIO running? `peacewatch stack status`)")
        sys.exit(1)


def run() -> None:
    """The console script: main(), and a traceback said to be a bug."""
    try:
        main()
    except Exception:
        traceback.print_exc()
        Console(stderr=True).print(
            "[red]error:[/] this is a bug in peacewatch, not something you did: please report it with "
            "the trace above",
            highlight=False,
        )
        sys.exit(70)  # EX_SOFTWARE


if __name__ == "__main__":
    run()
