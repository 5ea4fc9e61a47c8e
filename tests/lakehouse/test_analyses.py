"""Spark SQL over a seeded week of simulated reports: the five answers find the planted patterns.

Real Spark with the real Delta connector over a local lake (delta-rs wrote it, as the sink does).
"""

from __future__ import annotations

import base64
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat
import pytest
from deltalake import DeltaTable
from nbclient import NotebookClient
from pyspark.sql import SparkSession

from peacewatch.lakehouse.ingest.history import write_history
from peacewatch.lakehouse.lake import lake_table
from peacewatch.lakehouse.query.catalog import TenantDatabase, register_tenant
from peacewatch.lakehouse.query.questions import AnalysisParams, Answer, answer_questions
from peacewatch.lakehouse.query.report import write_report
from peacewatch.lakehouse.query.spark import spark_session
from peacewatch.platform.errors import PeacewatchError
from peacewatch.platform.settings import Settings
from peacewatch.simulator.config import SimulationConfig
from peacewatch.simulator.fleet import FleetSimulator
from peacewatch.simulator.vocabulary import AGITATION_WORDS

pytestmark = pytest.mark.slow

TENANT = "north-precinct"
MONDAY = datetime(2026, 11, 2, tzinfo=UTC)
CONFIG = SimulationConfig(drones=30, seed=7)
WEEK = 7 * 1440
NOTEBOOKS = Path(__file__).parents[2] / "lakehouse" / "notebooks"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("lake")
    settings = Settings(lake_dir=root, state_dir=root / "state")
    # Three commits: time travel has versions to go back to.
    written = write_history(
        lake_table(settings, tenant=TENANT, name="reports"),
        config=CONFIG, start=MONDAY, minutes=WEEK, rows_per_commit=120_000,
    )  # fmt: skip
    assert written > 290_000
    return settings


@pytest.fixture(scope="module")
def spark(lake: Settings) -> Iterator[SparkSession]:
    session = spark_session(lake, app_name="peacewatch-tests")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def db(spark: SparkSession, lake: Settings) -> TenantDatabase:
    return register_tenant(spark, lake, tenant=TENANT)


@pytest.fixture(scope="module")
def answers(spark: SparkSession, db: TenantDatabase) -> dict[str, Answer]:
    return {a.key: a for a in answer_questions(spark, database=db.database, params=AnalysisParams())}


def test_tenant_database_tables_views_and_time_travel(
    spark: SparkSession, db: TenantDatabase, lake: Settings
) -> None:
    assert db.database == "north_precinct"
    names = {r.tableName for r in spark.sql("SHOW TABLES IN north_precinct").collect()}
    assert {"reports", "sightings"} <= names
    delta = DeltaTable(lake_table(lake, tenant=TENANT, name="reports").uri)
    rows = delta.to_pyarrow_table(columns=["citizens"])
    citizens = sum(len(c) for c in rows.column("citizens").to_pylist())
    assert spark.sql("SELECT count(*) AS n FROM north_precinct.reports").first()["n"] == rows.num_rows
    assert spark.sql("SELECT count(*) AS n FROM north_precinct.sightings").first()["n"] == citizens
    # Version 0 is the first commit (~120,000 rows): Spark and delta-rs agree on what it held.
    first = spark.sql("SELECT count(*) AS n FROM north_precinct.reports VERSION AS OF 0").first()["n"]
    uri = lake_table(lake, tenant=TENANT, name="reports").uri
    assert first == DeltaTable(uri, version=0).to_pyarrow_table(columns=["drone_id"]).num_rows
    assert 120_000 <= first < rows.num_rows
    assert delta.version() >= 2
    # Registering again is a no-op, not an error.
    assert register_tenant(spark, lake, tenant=TENANT).tables == db.tables


def test_a_weekend_rate_matches_the_simulator(answers: dict[str, Answer]) -> None:
    table = answers["a"].table.set_index("day_type")
    weekday_level = 7.0 / (5.0 + 2.0 * CONFIG.weekend_agitation)
    expected = {
        "weekday": 1000 * CONFIG.bad_report_rate * weekday_level,
        "weekend": 1000 * CONFIG.bad_report_rate * weekday_level * CONFIG.weekend_agitation,
    }
    for day_type, rate in expected.items():
        assert table.loc[day_type, "alerts_per_1000_reports"] == pytest.approx(rate, rel=0.15)
    ratio = table.loc["weekend", "alerts_per_1000_reports"] / table.loc["weekday", "alerts_per_1000_reports"]
    assert 1.3 < ratio < 2.0
    assert answers["a"].finding.startswith("More agitation on weekends")
    assert int(table["reports"].sum()) > 290_000


def test_b_alerts_peak_late_evening(answers: dict[str, Answer]) -> None:
    table = answers["b"].table
    assert list(table["hour"]) == list(range(24))
    peak = int(table.loc[table["alerts"].idxmax(), "hour"])
    assert peak in (21, 22, 23)  # planted agitation peak: 22:30 UTC
    night = table.set_index("hour").loc[[3, 4, 5], "alerts"].mean()
    assert table["alerts"].max() > 3 * night


def test_c_planted_hotspot_ranks_first(answers: dict[str, Answer]) -> None:
    hotspot = CONFIG.resolved_hotspots()[0]
    first = answers["c"].table.iloc[0]
    dy = (first["lat"] - hotspot.lat) * 111.32
    dx = (first["lon"] - hotspot.lon) * 111.32 * math.cos(math.radians(hotspot.lat))
    assert math.hypot(dx, dy) < 1.2, first
    assert first["x_overall"] > 3


def test_d_planted_words_top_the_lift_table(answers: dict[str, Answer]) -> None:
    table = answers["d"].table
    top = list(table["word"][:5])
    assert set(top) == set(AGITATION_WORDS)
    assert top[0] == AGITATION_WORDS[0]  # the strongest planted word ranks first
    assert table["lift"].iloc[5] < 2.0  # and no ordinary word comes close
    assert (table["reports"] >= AnalysisParams().min_word_support).all()


def test_e_worn_and_flaky_drones_are_flagged(answers: dict[str, Answer]) -> None:
    fleet = FleetSimulator(CONFIG, tenant=TENANT, start=MONDAY)
    table = answers["e"].table
    flagged = table[table["needs_maintenance"]].set_index("drone_id")
    assert set(flagged.index) == set(fleet.degraded_drones) | set(fleet.flaky_drones)
    for drone in fleet.degraded_drones:
        assert "battery wearing" in flagged.loc[drone, "reasons"]
        assert flagged.loc[drone, "drain_growth_per_day"] == pytest.approx(0.105, rel=0.2)
    for drone in fleet.flaky_drones:
        assert "reporting gaps" in flagged.loc[drone, "reasons"]
        assert flagged.loc[drone, "missing_minutes"] > 100


def test_html_report_is_self_contained_with_five_charts(answers: dict[str, Answer], tmp_path: Path) -> None:
    path = write_report(list(answers.values()), tenant=TENANT, out_dir=tmp_path, source="test lake")
    page = path.read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 5
    assert all(base64.b64decode(i).startswith(b"\x89PNG\r\n\x1a\n") for i in images)
    for a in answers.values():
        assert f'id="q-{a.key}"' in page
    assert "uprising" in page
    assert len(list(tmp_path.glob("*.png"))) == 5
    assert "http" not in page.replace("http-equiv", "")  # nothing fetched from elsewhere


def test_duplicate_reports_do_not_break_the_answers(spark: SparkSession, tmp_path: Path) -> None:
    # Two hours of the same drones sent twice with other readings (a replay from another source):
    # equal timestamps, so zero gaps between reports whose batteries differ.
    settings = Settings(lake_dir=tmp_path / "lake", state_dir=tmp_path / "state")
    table = lake_table(settings, tenant="dup-force", name="reports")
    for seed in (1, 2):
        config = SimulationConfig(drones=3, seed=seed, flaky_drones=0, degraded_battery_drones=0)
        write_history(table, config=config, start=MONDAY, minutes=120)
    db = register_tenant(spark, settings, tenant="dup-force")
    answers = {a.key: a for a in answer_questions(spark, database=db.database)}
    assert int(answers["a"].table["reports"].sum()) == 2 * 3 * 120
    assert sorted(answers["e"].table["drone_id"]) == [f"dup-force-d000{i}" for i in range(3)]
    assert (answers["e"].table["gaps"] == 0).all()


def test_unknown_tenant_and_question_fail_clearly(
    spark: SparkSession, lake: Settings, db: TenantDatabase
) -> None:
    with pytest.raises(PeacewatchError, match="no reports table"):
        register_tenant(spark, lake, tenant="south-precinct")
    with pytest.raises(ValueError, match="unknown question z"):
        answer_questions(spark, database=db.database, keys="az")


REFUSALS = [("embedded", "not found"), ("spark", "TABLE_OR_VIEW_NOT_FOUND")]


@pytest.mark.parametrize(("engine", "refusal"), REFUSALS)
def test_sql_cli_csv_and_bad_query(lake: Settings, engine: str, refusal: str) -> None:
    from peacewatch.lakehouse.query.spark import spark_log

    env = {
        **os.environ,
        "PEACEWATCH_LAKE_DIR": str(lake.lake_dir),
        "PEACEWATCH_STATE_DIR": str(lake.state_dir),
    }
    cli = [sys.executable, "-m", "peacewatch.cli.app", "sql", "-t", TENANT, "--engine", engine]
    first_two = "SELECT drone_id, count(*) AS n FROM reports GROUP BY drone_id ORDER BY drone_id LIMIT 2"
    ok = subprocess.run(
        [*cli, "--csv", first_two],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert ok.stdout.splitlines() == ["drone_id,n", f"{TENANT}-d0000,{WEEK}", f"{TENANT}-d0001,{WEEK}"]
    bad = subprocess.run([*cli, "SELECT * FROM nope"], env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1
    # One line on the terminal: no Ivy, log4j or SLF4J output (that goes to the log) and no trace.
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert bad.stderr.startswith("error:")
    assert refusal in bad.stderr
    if engine == "spark":
        assert "log4j" in spark_log(lake).read_text()


@pytest.mark.parametrize("notebook", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebooks_run(notebook: str, lake: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernel is a child process: it inherits these and opens the same lake.
    monkeypatch.setenv("PEACEWATCH_LAKE_DIR", str(lake.lake_dir))
    monkeypatch.setenv("PEACEWATCH_STATE_DIR", str(lake.state_dir / notebook))
    monkeypatch.setenv("PEACEWATCH_TENANT", TENANT)
    nb = nbformat.read(NOTEBOOKS / notebook, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(str(o.get("data", {}).get("text/plain", "")) + str(o.get("text", "")) for o in outputs)
    if notebook.startswith("02"):
        assert sum("image/png" in o.get("data", {}) for o in outputs) == 5
        assert "uprising" in "".join(str(o.get("data", {})) for o in outputs)
    else:
        assert re.search(r"reports_at_first_version\s+0\s+120\d\d\d", text), text[-2000:]


# Written once, asked of both engines: the dialects agree on these (README: where they differ).
PORTABLE_QUERIES = [
    "SELECT count(*) AS n, count(DISTINCT report_id) AS ids FROM reports",
    "SELECT drone_id, count(*) AS n, avg(battery_pct) AS battery FROM reports GROUP BY drone_id ORDER BY 1",
    "SELECT name, count(*) AS n FROM sightings WHERE peacescore < 20 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
    "SELECT min(ts) AS first_seen, max(ts) AS last_seen, count(DISTINCT date) AS days FROM reports",
    "WITH bad AS (SELECT drone_id, lat FROM sightings WHERE peacescore < 5) "
    "SELECT count(*) AS n, sum(lat) AS lat_sum FROM bad",
]


def _rows(df: Any) -> list[tuple[object, ...]]:
    """Rows with times as UTC epoch microseconds (Spark hands pandas naive UTC, DataFusion aware)."""
    import pandas as pd

    out = df.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            times = out[column]
            times = times.dt.tz_localize("UTC") if times.dt.tz is None else times.dt.tz_convert("UTC")
            out[column] = [t.value // 1000 for t in times]
    return [tuple(v.item() if hasattr(v, "item") else v for v in row) for row in out.itertuples(index=False)]


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) or isinstance(b, float):  # sums in another order: the last bits differ
        return math.isclose(float(a), float(b), rel_tol=1e-9)  # type: ignore[arg-type]
    return a == b


@pytest.mark.parametrize("query", PORTABLE_QUERIES)
def test_the_embedded_engine_and_spark_give_the_same_answers(
    spark: SparkSession, db: TenantDatabase, lake: Settings, query: str
) -> None:
    from peacewatch.lakehouse.query.questions.answer import run_sql
    from peacewatch.lakehouse.query.quick_sql import embedded_query

    spark.catalog.setCurrentDatabase(db.database)
    embedded = embedded_query(lake, tenant=TENANT, query=query).to_pandas()
    on_spark = run_sql(spark, query)
    assert list(embedded.columns) == list(on_spark.columns)
    ours, theirs = _rows(embedded), _rows(on_spark)
    assert len(ours) == len(theirs) > 0
    for mine, spark_row in zip(ours, theirs, strict=True):
        assert all(_same(a, b) for a, b in zip(mine, spark_row, strict=True)), (mine, spark_row)


def test_the_embedded_engine_travels_in_time_and_refuses_bad_sql_in_one_line(lake: Settings) -> None:
    from peacewatch.lakehouse.query.quick_sql import QuerySqlError, embedded_query

    where = lake_table(lake, tenant=TENANT, name="reports")
    history = sorted(DeltaTable(where.uri).history(), key=lambda c: c["version"])
    first = history[0]
    first_rows = int(first["operationMetrics"]["num_added_rows"])
    when = datetime.fromtimestamp(first["timestamp"] / 1000, tz=UTC)
    then = embedded_query(lake, tenant=TENANT, query="SELECT count(*) AS n FROM reports", as_of=when)
    now = embedded_query(lake, tenant=TENANT, query="SELECT count(*) AS n FROM reports")
    assert then.column("n").to_pylist() == [first_rows]
    assert now.column("n")[0].as_py() > first_rows
    with pytest.raises(QuerySqlError) as bad:
        embedded_query(lake, tenant=TENANT, query="SELECT nope FROM reports")
    assert "\n" not in str(bad.value)
