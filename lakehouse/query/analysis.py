"""Spark SQL over a tenant's lakehouse, as the CLI and the demo use it: a session opened as the
force, its questions answered, the report written."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from pyspark.errors import PySparkException
from pyspark.sql import SparkSession

from peacewatch.lakehouse.query.catalog import TenantDatabase, register_tenant, registered
from peacewatch.lakehouse.query.questions import AnalysisParams, Answer, answer_questions
from peacewatch.lakehouse.query.questions.answer import run_sql
from peacewatch.lakehouse.query.report import write_report
from peacewatch.lakehouse.query.spark import jars_resolved, quiet_query_loggers, spark_session
from peacewatch.lakehouse.query.spark_connect import find_server
from peacewatch.platform.clients import pulsar_admin
from peacewatch.platform.credentials import S3Credentials, read_kit_credentials
from peacewatch.platform.errors import PeacewatchError
from peacewatch.platform.onboarded import recorded_spec
from peacewatch.platform.progress import LOGGED, Progress
from peacewatch.platform.settings import Settings
from peacewatch.platform.topics import validate_tenant_name

__all__ = ["force_threshold", "run_analysis", "run_query", "tenant_session"]


@contextmanager
def tenant_session(
    settings: Settings, tenant: str, *, verbose: bool = False, progress: Progress = LOGGED
) -> Iterator[tuple[SparkSession, TenantDatabase]]:
    validate_tenant_name(tenant)
    # As the force's analyst: the session can read that force's lake, and not change it.
    credentials = None if settings.lake_dir is not None else read_kit_credentials(settings, tenant, "analyst")
    server = find_server(settings, tenant) if settings.lake_dir is None else None
    if server is not None:
        yield from _on_server(settings, tenant, server.session_url, credentials)
        return
    first = "" if jars_resolved(settings) else " - its jars from Maven Central, the first time only"
    with progress.status(f"Starting Spark (Delta Lake, S3A){first} ..."):
        spark = spark_session(
            settings, app_name=f"peacewatch-{tenant}", credentials=credentials, verbose=verbose
        )
    try:
        db = register_tenant(spark, settings, tenant=tenant, credentials=credentials)
        spark.catalog.setCurrentDatabase(db.database)
        yield spark, db
    except PySparkException as exc:
        raise _one_line(exc) from None
    finally:
        spark.stop()


def _on_server(
    settings: Settings, tenant: str, url: str, credentials: S3Credentials | None
) -> Iterator[tuple[SparkSession, TenantDatabase]]:
    """The force's warm Spark (`peacewatch lake spark-server`): no JVM to start, and the force's
    session there - catalog, caches - is kept for the next call (not stopped)."""
    spark = SparkSession.builder.remote(url).getOrCreate()
    quiet_query_loggers()
    try:
        db = registered(spark, settings, tenant=tenant) or register_tenant(
            spark, settings, tenant=tenant, credentials=credentials
        )
        spark.catalog.setCurrentDatabase(db.database)
        yield spark, db
    except PySparkException as exc:
        raise _one_line(exc) from None


def _one_line(exc: PySparkException) -> PeacewatchError:
    """Bad SQL or an unreadable table: one line, not a JVM stack trace."""
    return PeacewatchError(f"Spark: {str(exc).strip().splitlines()[0]}")


def force_threshold(settings: Settings, tenant: str) -> int:
    """The force's own alert threshold (from its applied spec); 20 without one or without a broker."""
    try:
        with pulsar_admin(settings) as admin:
            spec = recorded_spec(admin, tenant)
    except PeacewatchError:
        return 20
    return int(spec.get("alerting", {}).get("threshold", 20)) if spec else 20


def run_analysis(
    settings: Settings, *, tenant: str, out: Path, keys: str = "abcde", params: AnalysisParams | None = None,
    progress: Progress = LOGGED,
) -> tuple[list[Answer], Path]:  # fmt: skip
    """Answer the questions for one tenant; writes its charts and report.html under out/tenant."""
    params = params or AnalysisParams(threshold=force_threshold(settings, tenant))
    with tenant_session(settings, tenant, progress=progress) as (spark, db):
        with progress.status(f"{tenant}: answering {len(set(keys))} questions ..."):
            answers = answer_questions(spark, database=db.database, keys=keys, params=params)
        source = ", ".join(f"{k}: {v}" for k, v in db.tables.items())
        report = write_report(answers, tenant=tenant, out_dir=out / tenant, source=source)
    return answers, report


def run_query(
    settings: Settings, *, tenant: str, query: str, limit: int, verbose: bool = False,
    progress: Progress = LOGGED,
) -> pd.DataFrame:  # fmt: skip
    with tenant_session(settings, tenant, verbose=verbose, progress=progress) as (spark, _db):
        return run_sql(spark, query, limit=limit)
