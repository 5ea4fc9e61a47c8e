"""`peacewatch sql` and `peacewatch analyze`: Spark SQL over a tenant's lakehouse."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import typer
from pyspark.errors import PySparkException
from pyspark.sql import SparkSession
from rich.console import Console
from rich.table import Table

from peacewatch.lakehouse.catalog import TenantDatabase, register_tenant
from peacewatch.lakehouse.questions import QUESTIONS, AnalysisParams, Answer, answer_questions
from peacewatch.lakehouse.questions.answer import run_sql
from peacewatch.lakehouse.report import write_report
from peacewatch.lakehouse.spark import spark_session
from peacewatch.platform.clients import pulsar_admin
from peacewatch.platform.errors import PeacewatchError
from peacewatch.platform.settings import Settings
from peacewatch.platform.topics import validate_tenant_name
from peacewatch.tenants.lake_access import lake_credentials_for
from peacewatch.tenants.onboarding import applied_spec

__all__ = ["analyze", "print_answers", "rich_table", "run_analysis", "sql"]

console = Console()


def rich_table(df: pd.DataFrame, *, title: str | None = None, limit: int = 50) -> Table:
    table = Table(*[str(c) for c in df.columns], title=title)
    for row in df.head(limit).itertuples(index=False):
        table.add_row(*[f"{v:,.4g}" if isinstance(v, float) else str(v) for v in row])
    if len(df) > limit:
        table.caption = f"{len(df) - limit:,} more rows"
    return table


@contextmanager
def _tenant_session(settings: Settings, tenant: str) -> Iterator[tuple[SparkSession, TenantDatabase]]:
    validate_tenant_name(tenant)
    # As the force's own MinIO user: the session can read that force's lake and nothing else.
    credentials = lake_credentials_for(settings, tenant)
    with console.status("Starting Spark (Delta Lake, S3A) ...", spinner="dots"):
        spark = spark_session(settings, app_name=f"peacewatch-{tenant}", credentials=credentials)
    try:
        db = register_tenant(spark, settings, tenant=tenant, credentials=credentials)
        spark.catalog.setCurrentDatabase(db.database)
        yield spark, db
    except PySparkException as exc:
        # Bad SQL or an unreadable table: one line, not a JVM stack trace.
        raise PeacewatchError(f"Spark: {str(exc).strip().splitlines()[0]}") from None
    finally:
        spark.stop()


def sql(
    ctx: typer.Context,
    query: str = typer.Argument(
        ..., help='Spark SQL, e.g. "SELECT drone_id, count(*) FROM reports GROUP BY 1"'
    ),
    tenant: str = typer.Option(..., "--tenant", "-t", help="Whose lakehouse (its database is the default)"),
    as_csv: bool = typer.Option(False, "--csv", help="CSV on stdout"),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per row on stdout"),
    limit: int = typer.Option(1000, min=1, help="Rows to fetch at most"),
) -> None:
    """Run a Spark SQL query on a tenant's Delta tables (reports, alerts, sightings)."""
    if as_csv and as_json:
        raise PeacewatchError("choose one of --csv and --json")
    with _tenant_session(ctx.obj, tenant) as (spark, _db):
        df = run_sql(spark, query, limit=limit)
    if as_csv:
        df.to_csv(sys.stdout, index=False)
    elif as_json:
        for line in df.to_json(orient="records", lines=True, date_format="iso").splitlines():
            print(line)
    else:
        console.print(rich_table(df, limit=limit))


def _threshold(settings: Settings, tenant: str) -> int:
    """The force's own alert threshold (from its applied spec); 20 without one or without a broker."""
    try:
        with pulsar_admin(settings) as admin:
            spec = applied_spec(admin, tenant)
    except PeacewatchError:
        return 20
    return spec.alerting.threshold if spec else 20


def run_analysis(
    settings: Settings, *, tenant: str, out: Path, keys: str = "abcde", params: AnalysisParams | None = None
) -> tuple[list[Answer], Path]:
    """Answer the questions for one tenant; writes its charts and report.html under out/tenant."""
    params = params or AnalysisParams(threshold=_threshold(settings, tenant))
    with _tenant_session(settings, tenant) as (spark, db):
        with console.status(f"{tenant}: answering {len(set(keys))} questions ..."):
            answers = answer_questions(spark, database=db.database, keys=keys, params=params)
        source = ", ".join(f"{k}: {v}" for k, v in db.tables.items())
        report = write_report(answers, tenant=tenant, out_dir=out / tenant, source=source)
    return answers, report


def print_answers(tenant: str, answers: list[Answer], report: Path) -> None:
    console.rule(f"[bold]{tenant}")
    for a in answers:
        console.print(f"[bold]({a.key}) {a.question}[/]")
        console.print(a.finding, highlight=False)
        console.print(rich_table(a.table, limit=10))
    console.print(f"report: {report}")


def analyze(
    ctx: typer.Context,
    tenant: list[str] = typer.Option(..., "--tenant", "-t", help="Tenant(s) to analyse"),
    question: str = typer.Option("abcde", "--question", "-q", help=f"Which of {''.join(QUESTIONS)}"),
    out: Path = typer.Option(Path("peacewatch-analysis"), help="Charts and report.html go to OUT/TENANT/"),
    threshold: int | None = typer.Option(
        None, min=0, max=101, help="A peacescore below this is an alert (default: the force's own)"
    ),
    grid: float = typer.Option(0.01, min=0.0005, max=1.0, help="Hotspot cell size in degrees"),
) -> None:
    """Answer the five questions for each tenant: tables here, charts and one HTML report on disk."""
    settings: Settings = ctx.obj
    for name in tenant:
        validate_tenant_name(name)
        params = AnalysisParams(threshold=threshold if threshold is not None else _threshold(settings, name),
                                grid_deg=grid)  # fmt: skip
        answers, report = run_analysis(settings, tenant=name, out=out, keys=question, params=params)
        print_answers(name, answers, report)
