"""(e) Which drones need maintenance?

Two signs, per drone: a battery that wears (its drain per minute of flight grows day after day:
the slope of the daily mean drain) and gaps in its reports (silences longer than a few minutes).
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from pyspark.sql import SparkSession

from peacewatch.lakehouse.query.questions.answer import AnalysisParams, Answer, figure_png, run_sql

__all__ = ["QUESTION", "answer"]

QUESTION = "Which drones need maintenance?"

SQL = """
WITH seq AS (
  SELECT drone_id, ts, battery_pct,
         lag(battery_pct) OVER (PARTITION BY drone_id ORDER BY ts) AS prev_battery,
         lag(ts) OVER (PARTITION BY drone_id ORDER BY ts) AS prev_ts
  FROM {db}.reports
),
steps AS (
  SELECT drone_id, ts, battery_pct,
         (unix_micros(ts) - unix_micros(prev_ts)) / 60e6 AS gap_min,
         prev_battery - battery_pct AS drop
  FROM seq WHERE prev_ts IS NOT NULL
),
daily AS (
  -- drain per minute in flight: consecutive minutes where the battery went down
  SELECT drone_id, to_date(ts) AS day,
         -- gap_min > 0: a drone can send two reports with one timestamp (a resend, a replay)
         avg(CASE WHEN gap_min > 0 AND gap_min <= 1.5 AND drop > 0 THEN drop / gap_min END) AS drain
  FROM steps GROUP BY drone_id, to_date(ts)
),
wear AS (
  SELECT drone_id,
         regr_slope(drain, CAST(datediff(day, DATE'1970-01-01') AS DOUBLE)) AS drain_trend,
         avg(drain) AS mean_drain,
         count(drain) AS days
  FROM daily GROUP BY drone_id
),
silences AS (
  SELECT drone_id,
         count(*) + 1 AS reports,
         sum(CASE WHEN gap_min > {gap} THEN 1 ELSE 0 END) AS gaps,
         coalesce(sum(CASE WHEN gap_min > {gap} THEN gap_min - 1 END), 0) AS missing_minutes,
         max(gap_min) AS longest_gap_min,
         min(battery_pct) AS min_battery
  FROM steps GROUP BY drone_id
)
SELECT s.drone_id, s.reports, w.days, w.mean_drain, w.drain_trend, s.gaps, s.missing_minutes,
       s.longest_gap_min, s.min_battery
FROM silences s LEFT JOIN wear w ON s.drone_id = w.drone_id
"""


def answer(spark: SparkSession, *, database: str, params: AnalysisParams) -> Answer:
    sql = SQL.format(db=database, gap=float(params.gap_minutes))
    drones = run_sql(spark, sql)
    drones["drain_trend"] = drones["drain_trend"].astype(float).fillna(0.0)
    wearing = drones["drain_trend"] >= params.wear_per_day
    silent = drones["gaps"] > 0
    drones["reasons"] = [
        ", ".join(r for r, on in (("battery wearing", w), ("reporting gaps", s)) if on)
        for w, s in zip(wearing, silent, strict=True)
    ]
    drones["needs_maintenance"] = wearing | silent
    drones = drones.sort_values(
        ["needs_maintenance", "drain_trend", "missing_minutes"], ascending=[False, False, False]
    )
    flagged = drones[drones["needs_maintenance"]]
    table = pd.DataFrame(
        {
            "drone_id": drones["drone_id"],
            "needs_maintenance": drones["needs_maintenance"],
            "reasons": drones["reasons"],
            "drain_pct_per_min": drones["mean_drain"].astype(float).round(3),
            "drain_growth_per_day": drones["drain_trend"].round(4),
            "gaps": drones["gaps"].astype(int),
            "missing_minutes": drones["missing_minutes"].astype(float).round(0).astype(int),
            "longest_gap_min": drones["longest_gap_min"].astype(float).round(0).astype(int),
            "reports": drones["reports"].astype(int),
        }
    ).head(max(params.top, len(flagged)))
    if len(flagged):
        finding = (
            f"{len(flagged)} of {len(drones)} drones need a look: "
            + "; ".join(
                f"{d} ({r})" for d, r in zip(flagged["drone_id"][:5], flagged["reasons"][:5], strict=True)
            )
            + ("; ..." if len(flagged) > 5 else ".")
        )
    else:
        finding = f"All {len(drones)} drones look healthy: no battery wear, no reporting gaps."

    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    wear = drones.nlargest(min(params.top, len(drones)), "drain_trend").iloc[::-1]
    colors = ["#c0392b" if x >= params.wear_per_day else "#95a5a6" for x in wear["drain_trend"]]
    left.barh(wear["drone_id"], wear["drain_trend"], color=colors)
    left.axvline(params.wear_per_day, color="#2c3e50", ls="--", lw=1)
    left.set_xlabel("battery drain growth (% per minute, per day)")
    left.set_title("Battery wear")
    gaps = drones.nlargest(min(params.top, len(drones)), "missing_minutes").iloc[::-1]
    right.barh(gaps["drone_id"], gaps["missing_minutes"], color="#e67e22")
    right.set_xlabel("minutes without reports")
    right.set_title(f"Reporting gaps (> {params.gap_minutes:g} min)")
    for ax in (left, right):
        ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return Answer(key="e", title="Drone maintenance", question=QUESTION, finding=finding, table=table,
                  chart_png=figure_png(fig), sql=sql)  # fmt: skip
