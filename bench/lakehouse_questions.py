"""The five questions on 10M reports: Spark over the Delta table vs Spark over the same snapshot's
Parquet files, in one run.

The data set is one simulated week of a large fleet written with the simulator's history writer
into a tenant's reports table on the stack's MinIO (built once, then reused: it takes minutes).
Delta pays for reading its log; plain Parquet is the floor for the same bytes.

    .venv/bin/python -m bench.lakehouse_questions [--drones 1000] [--days 7]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

import matplotlib

matplotlib.use("Agg")
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError
from matplotlib.figure import Figure
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench._common import RESULTS, machine, write_results
from peacewatch.cli.output import RichProgress
from peacewatch.lakehouse.ingest.history import write_history
from peacewatch.lakehouse.lake import LakeTable, lake_table
from peacewatch.lakehouse.query.catalog import register_tenant
from peacewatch.lakehouse.query.questions import QUESTIONS, AnalysisParams
from peacewatch.lakehouse.query.spark import spark_session
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.manager import Stack
from peacewatch.platform.stack.minio import minio_client
from peacewatch.simulator.config import SimulationConfig

TENANT = "bench-lakehouse"
START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday: the week holds 5 weekdays and a weekend


def _rows(table: LakeTable) -> int:
    try:
        return DeltaTable(table.uri, storage_options=table.storage_options).count()
    except TableNotFoundError:
        return 0


def prepare(table: LakeTable, *, drones: int, days: int, console: Console) -> int:
    expected_min = int(drones * days * 1440 * 0.99)  # flaky drones leave gaps
    have = _rows(table)
    if have >= expected_min:
        console.print(f"data set: {have:,} reports already in {table.uri}")
        return have
    if have:
        DeltaTable(table.uri, storage_options=table.storage_options).delete()
    with Progress(TextColumn("[bold]building data set[/]"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as progress:  # fmt: skip
        task = progress.add_task("rows", total=drones * days * 1440)
        written = write_history(
            table, config=SimulationConfig(drones=drones, seed=11), start=START, minutes=days * 1440,
            on_progress=lambda n: progress.advance(task, n),
        )  # fmt: skip
    return written


def _timed(spark, database: str, params: AnalysisParams) -> dict[str, float]:  # type: ignore[no-untyped-def]
    out = {}
    for key, (_q, fn) in QUESTIONS.items():
        t0 = time.perf_counter()
        fn(spark, database=database, params=params)
        out[key] = round(time.perf_counter() - t0, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--drones", type=int, default=1000)
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args()
    console = Console()
    settings = Settings()
    Stack(settings=settings, progress=RichProgress(console)).up()
    table = lake_table(settings, tenant=TENANT, name="reports")
    s3 = minio_client(settings)
    if not s3.bucket_exists(settings.tenant_bucket(TENANT)):
        s3.make_bucket(settings.tenant_bucket(TENANT))
    t0 = time.perf_counter()
    rows = prepare(table, drones=args.drones, days=args.days, console=console)
    build_s = time.perf_counter() - t0

    spark = spark_session(settings, app_name="bench-lakehouse")
    try:
        db = register_tenant(spark, settings, tenant=TENANT)
        delta = DeltaTable(table.uri, storage_options=table.storage_options)
        files = [u.replace("s3://", "s3a://", 1) for u in delta.file_uris()]
        base = table.uri.replace("s3://", "s3a://", 1)
        # The very files of the Delta snapshot, read as plain Parquet (partition column from paths),
        # as `global_temp.reports`: the questions' `{db}.reports` resolves to it unchanged.
        spark.read.option("basePath", base).parquet(*files).createOrReplaceGlobalTempView("reports")
        params = AnalysisParams()
        # The first pass pays for the JVM's warm-up (what an analyst's first query sees); then
        # Parquet and Delta again, neither getting the colder JVM.
        cold = _timed(spark, db.database, params)
        parquet = _timed(spark, "global_temp", params)
        delta_s = _timed(spark, db.database, params)
    finally:
        spark.stop()

    total_delta, total_parquet = sum(delta_s.values()), sum(parquet.values())
    data = {
        "machine": machine(),
        "rows": rows,
        "files": len(files),
        "data_set_build_s": round(build_s, 1),
        "delta_first_pass_s": cold,
        "delta_s": delta_s,
        "parquet_s": parquet,
        "total_delta_first_pass_s": round(sum(cold.values()), 2),
        "total_delta_s": round(total_delta, 2),
        "total_parquet_s": round(total_parquet, 2),
        "delta_over_parquet": round(total_delta / total_parquet, 3),
        "target_total_s": 120,
    }
    lines = [
        f"Five questions on {rows:,} reports ({len(files)} Parquet files on MinIO, s3a), 2 cores",
        "",
        "| question | Delta, first pass (s) | Delta (s) | plain Parquet (s) |",
        "| --- | --- | --- | --- |",
        *[f"| ({k}) {QUESTIONS[k][0]} | {cold[k]} | {delta_s[k]} | {parquet[k]} |" for k in QUESTIONS],
        f"| **all five** | {sum(cold.values()):.1f} | **{total_delta:.1f}** (target <= 120) "
        f"| {total_parquet:.1f} |",
        "",
        f"Delta / Parquet: {total_delta / total_parquet:.2f}x",
    ]
    fig = Figure(figsize=(7, 3.5))
    ax = fig.subplots()
    keys = list(QUESTIONS)
    ax.bar([i - 0.2 for i in range(5)], [delta_s[k] for k in keys], 0.4, label="Delta", color="#2c7fb8")
    ax.bar(
        [i + 0.2 for i in range(5)], [parquet[k] for k in keys], 0.4, label="plain Parquet", color="#95a5a6"
    )
    ax.set_xticks(range(5), [f"({k})" for k in keys])
    ax.set_ylabel("seconds")
    ax.set_title(
        f"Five questions, {rows / 1e6:.1f}M reports: {total_delta:.0f} s (Delta) vs {total_parquet:.0f} s"
    )
    ax.legend()
    RESULTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(RESULTS / "lakehouse_questions.png", dpi=110, bbox_inches="tight")
    write_results("lakehouse_questions", data, "\n".join(lines))
    console.print("\n".join(lines))


if __name__ == "__main__":
    main()
