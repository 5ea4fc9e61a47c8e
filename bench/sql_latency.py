"""How long an analyst waits for an answer: the embedded engine, a warm Spark session, a cold `sql`.

One run on the real local stack, over one force's reports table on MinIO (N rows written by
delta-rs as the sink writes them):
1. `peacewatch sql` (the shipped command, default engine: DataFusion in delta-rs) - wall time of
   the whole command, as users run it, for an ad-hoc count and for the hotspots question.
2. `peacewatch sql --engine spark` - the same two, cold (a new JVM per call), and with the force's
   Spark Connect server running (`peacewatch lake spark-server`).
3. A warm Spark session (as a notebook holds one): the same two after a first query; beside it,
   Spark's floor - the same files read as plain Parquet, no Delta log.
Each timing is the median of `--repeat` runs. Writes bench/results/sql_latency.{json,md}.
Usage: python -m bench.sql_latency [--rows 500000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deltalake import DeltaTable
from rich.console import Console

from bench._common import machine, write_results
from peacewatch.cli.output import RichProgress
from peacewatch.lakehouse.access import LakeAccess
from peacewatch.lakehouse.ingest.history import write_history
from peacewatch.lakehouse.lake import lake_table
from peacewatch.platform.clients import pulsar_admin
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.manager import Stack
from peacewatch.platform.steps import apply_steps
from peacewatch.simulator.config import SimulationConfig
from peacewatch.tenants.onboarding import plan_steps
from peacewatch.tenants.spec import TenantSpec

console = Console()
PEACEWATCH = str(Path(sys.executable).parent / "peacewatch")

COUNT = "SELECT count(*) AS n, count(DISTINCT report_id) AS ids FROM reports"
# The hotspots question (lakehouse.questions.hotspots) in SQL both dialects read alike.
HOTSPOTS = """
SELECT CAST(floor(r.lat / 0.01) AS BIGINT) AS cy, CAST(floor(r.lon / 0.01) AS BIGINT) AS cx,
       count(*) AS reports, sum(CASE WHEN b.report_id IS NULL THEN 0 ELSE 1 END) AS alert_reports
FROM reports AS r
LEFT JOIN (SELECT DISTINCT report_id FROM sightings WHERE peacescore < 20) AS b ON r.report_id = b.report_id
GROUP BY 1, 2 ORDER BY alert_reports DESC, cy, cx LIMIT 10
"""


def _median_s(run: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times), 3)


def _cli(tenant: str, query: str, *, engine: str) -> None:
    proc = subprocess.run(
        [PEACEWATCH, "sql", "-t", tenant, "--engine", engine, "--json", query],
        capture_output=True, text=True, env=dict(os.environ), timeout=900, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"peacewatch sql --engine {engine} failed: {proc.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    settings = Settings()
    Stack(settings=settings, progress=RichProgress(console)).up()
    tenant = f"bench-sql-{uuid.uuid4().hex[:5]}"
    with pulsar_admin(settings) as admin:
        spec = TenantSpec(name=tenant, display_name=tenant, partitions=1)
        apply_steps(plan_steps(settings, admin, LakeAccess(settings), spec, progress=RichProgress(console)))
    drones = 100
    with console.status(f"writing {args.rows:,} reports to {tenant}'s lake on MinIO ..."):
        rows = write_history(
            lake_table(settings, tenant=tenant, name="reports", kit="lake"),
            config=SimulationConfig(drones=drones, seed=11), start=datetime(2026, 11, 2, tzinfo=UTC),
            minutes=max(1, args.rows // drones), rows_per_commit=100_000,
        )  # fmt: skip
    console.print(f"{rows:,} reports in {tenant}'s lake")
    out: dict[str, Any] = {
        "benchmark": "sql_latency",
        "machine": machine(),
        "rows": rows,
        "repeat": args.repeat,
    }

    for engine in ("embedded", "spark"):
        for name, query in (("count", COUNT), ("hotspots", HOTSPOTS)):
            with console.status(f"peacewatch sql --engine {engine}: {name} ..."):
                out[f"{engine}_cli_{name}_s"] = _median_s(lambda q=query, e=engine: _cli(tenant, q, engine=e),
                                                          args.repeat)  # fmt: skip
            console.print(f"peacewatch sql --engine {engine}, {name}: {out[f'{engine}_cli_{name}_s']} s")

    # The force's warm Spark (`peacewatch lake spark-server`): the same command, no JVM of its own.
    from peacewatch.lakehouse.query.spark_connect import find_server

    server = subprocess.Popen([PEACEWATCH, "lake", "spark-server", "-t", tenant], env=dict(os.environ),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        with console.status("starting the force's Spark Connect server ..."):
            while find_server(settings, tenant) is None:
                if server.poll() is not None:
                    raise RuntimeError("peacewatch lake spark-server exited")
                time.sleep(1)
            _cli(tenant, COUNT, engine="spark")  # its first query warms it (Delta, S3A)
        for name, query in (("count", COUNT), ("hotspots", HOTSPOTS)):
            out[f"spark_server_cli_{name}_s"] = _median_s(lambda q=query: _cli(tenant, q, engine="spark"),
                                                          args.repeat)  # fmt: skip
            console.print(f"sql --engine spark, server up, {name}: {out[f'spark_server_cli_{name}_s']} s")
    finally:
        server.terminate()
        server.wait(timeout=120)

    from peacewatch.lakehouse.query.analysis import tenant_session
    from peacewatch.lakehouse.query.quick_sql import embedded_query

    for name, query in (("count", COUNT), ("hotspots", HOTSPOTS)):
        out[f"embedded_engine_{name}_s"] = _median_s(
            lambda q=query: embedded_query(settings, tenant=tenant, query=q), args.repeat
        )
    with tenant_session(settings, tenant) as (spark, _db):
        spark.sql(COUNT).collect()  # warm: JVM, jars, catalog, S3A connections
        for name, query in (("count", COUNT), ("hotspots", HOTSPOTS)):
            out[f"spark_warm_{name}_s"] = _median_s(lambda q=query: spark.sql(q).collect(), args.repeat)
        where = lake_table(settings, tenant=tenant, name="reports")
        files = ["s3a://" + u.removeprefix("s3://") for u in DeltaTable(where.uri,
                 storage_options=where.storage_options).file_uris()]  # fmt: skip
        plain = spark.read.parquet(*files)
        out["spark_warm_parquet_count_s"] = _median_s(
            lambda: plain.selectExpr("count(*)", "count(DISTINCT report_id)").collect(), args.repeat
        )
    out["targets"] = {"embedded_cli_count_s": 1.0, "spark_server_cli_count_s": 3.0}
    table = _table(out)
    write_results("sql_latency", out, table)
    console.print(table)


def _table(d: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"# SQL latency over one force's {d['rows']:,}-row reports table on MinIO "
            f"(median of {d['repeat']})",
            "",
            "| path | ad-hoc count | hotspots question |",
            "|---|---|---|",
            f"| `peacewatch sql` (embedded, whole command) | {d['embedded_cli_count_s']} s "
            f"| {d['embedded_cli_hotspots_s']} s |",
            f"| embedded engine, in process | {d['embedded_engine_count_s']} s "
            f"| {d['embedded_engine_hotspots_s']} s |",
            f"| warm Spark session | {d['spark_warm_count_s']} s | {d['spark_warm_hotspots_s']} s |",
            f"| `peacewatch sql --engine spark`, spark-server up | {d['spark_server_cli_count_s']} s "
            f"| {d['spark_server_cli_hotspots_s']} s |",
            f"| warm Spark, same files as plain Parquet (floor) | {d['spark_warm_parquet_count_s']} s | - |",
            f"| `peacewatch sql --engine spark` (cold JVM) | {d['spark_cli_count_s']} s "
            f"| {d['spark_cli_hotspots_s']} s |",
        ]
    )


if __name__ == "__main__":
    main()
