"""`peacewatch sql` and `peacewatch analyze`. Spark, pandas and matplotlib load only when these
run: every other command starts without them."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from peacewatch.cli.output import RichProgress
from peacewatch.cli.shown import plain, text
from peacewatch.platform.errors import PeacewatchError
from peacewatch.platform.reachability import require
from peacewatch.platform.settings import Settings
from peacewatch.platform.topics import validate_tenant_name

if TYPE_CHECKING:
    from peacewatch.lakehouse.query.questions import Answer

__all__ = ["analyze", "print_answers", "sql"]

QUESTION_KEYS = "abcde"


def _as_of(text: str) -> datetime:
    """ISO 8601; without an offset it is UTC."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise PeacewatchError(f"invalid --as-of {text!r}: use ISO 8601, e.g. 2026-11-23T12:00:00Z") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class Engine(StrEnum):
    embedded = "embedded"
    spark = "spark"


console = Console()


def sql(
    ctx: typer.Context,
    query: str = typer.Argument(..., help='SQL, e.g. "SELECT drone_id, count(*) FROM reports GROUP BY 1"'),
    tenant: str = typer.Option(..., "--tenant", "-t", help="Whose lakehouse (its database is the default)"),
    engine: Engine = typer.Option(
        Engine.embedded, help="embedded: DataFusion in delta-rs, ~1 s; spark: Spark SQL (starts a JVM)"
    ),
    as_of: str | None = typer.Option(
        None, "--as-of", help="The tables as they were then (Delta time travel), e.g. 2026-11-23T12:00Z"
    ),
    as_csv: bool = typer.Option(False, "--csv", help="CSV on stdout"),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per row on stdout"),
    limit: int = typer.Option(1000, min=1, help="Rows to fetch at most"),
    verbose: bool = typer.Option(False, "--verbose", help="Spark's own output here (else: logs/spark.log)"),
) -> None:
    """Run a SQL query on a tenant's Delta tables (reports, alerts, sightings)."""
    if as_csv and as_json:
        raise PeacewatchError("choose one of --csv and --json")
    require(ctx.obj, minio=True)
    if engine is Engine.embedded:
        from peacewatch.lakehouse.query.quick_sql import embedded_query

        when = _as_of(as_of) if as_of else None
        df = embedded_query(ctx.obj, tenant=tenant, query=query, limit=limit, as_of=when).to_pandas()
    else:
        if as_of is not None:
            raise PeacewatchError("--as-of is for the embedded engine; in Spark use VERSION/TIMESTAMP AS OF")
        from peacewatch.lakehouse.query.analysis import run_query

        df = run_query(ctx.obj, tenant=tenant, query=query, limit=limit, verbose=verbose,
                       progress=RichProgress(console))  # fmt: skip
    if as_csv:
        if sys.stdout.isatty():  # to a terminal, drone strings are shown inert; to a pipe, exact
            df = df.map(lambda v: plain(v) if isinstance(v, str) else v)
        df.to_csv(sys.stdout, index=False)
    elif as_json:
        for line in df.to_json(orient="records", lines=True, date_format="iso").splitlines():
            print(line)
    else:
        from peacewatch.cli.table_view import rich_table

        # To a pipe, rich would fold the table at 80 columns: print it at its own width there.
        out = console if sys.stdout.isatty() else Console(width=100_000)
        out.print(rich_table(df, limit=limit))


def analyze(
    ctx: typer.Context,
    tenant: list[str] = typer.Option(..., "--tenant", "-t", help="Tenant(s) to analyse"),
    question: str = typer.Option("abcde", "--question", "-q", help=f"Which of {QUESTION_KEYS}"),
    out: Path = typer.Option(Path("peacewatch-analysis"), help="Charts and report.html go to OUT/TENANT/"),
    threshold: int | None = typer.Option(
        None, min=0, max=101, help="A peacescore below this is an alert (default: the force's own)"
    ),
    grid: float = typer.Option(0.01, min=0.0005, max=1.0, help="Hotspot cell size in degrees"),
) -> None:
    """Answer the five questions for each tenant: tables here, charts and one HTML report on disk."""
    from peacewatch.lakehouse.query.analysis import force_threshold, run_analysis
    from peacewatch.lakehouse.query.questions import AnalysisParams

    settings: Settings = ctx.obj
    require(settings, minio=True)
    for name in tenant:
        validate_tenant_name(name)
        own = threshold if threshold is not None else force_threshold(settings, name)
        params = AnalysisParams(threshold=own, grid_deg=grid)
        answers, report = run_analysis(settings, tenant=name, out=out, keys=question, params=params,
                                       progress=RichProgress(console))  # fmt: skip
        print_answers(name, answers, report)


def print_answers(tenant: str, answers: list[Answer], report: Path, *, to: Console = console) -> None:
    """Each answer's finding and table, then where the report is."""
    from peacewatch.cli.table_view import rich_table

    to.rule(f"[bold]{tenant}")
    for a in answers:
        to.print(text(f"({a.key}) {a.question}", style="bold"))
        to.print(text(a.finding), highlight=False)
        to.print(rich_table(a.table, limit=10))
    to.print(f"report: {report}")
