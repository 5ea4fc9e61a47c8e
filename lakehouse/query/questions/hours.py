"""(b) At which hours of the day do alerts peak? Alerts (bad sightings) and alert rate per UTC hour."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from pyspark.sql import SparkSession

from peacewatch.lakehouse.query.questions.answer import (
    AnalysisParams,
    Answer,
    alert_count,
    alert_flag,
    figure_png,
    run_sql,
)

__all__ = ["QUESTION", "answer"]

QUESTION = "At which hours of the day do alerts peak?"

SQL = """
SELECT hour(ts) AS hour,
       count(*) AS reports,
       sum({count}) AS alerts,
       sum(CAST({flag} AS INT)) AS alert_reports
FROM {db}.reports
GROUP BY hour(ts)
"""


def answer(spark: SparkSession, *, database: str, params: AnalysisParams) -> Answer:
    sql = SQL.format(db=database, count=alert_count(params.threshold), flag=alert_flag(params.threshold))
    raw = run_sql(spark, sql).set_index("hour")
    table = raw.reindex(range(24), fill_value=0).rename_axis("hour").reset_index()
    table["alerts_per_1000_reports"] = (
        (1000 * table["alert_reports"] / table["reports"].where(table["reports"] > 0)).fillna(0).round(3)
    )
    peak = table.sort_values(["alerts", "hour"], ascending=[False, True]).iloc[0]
    top3 = table.nlargest(3, "alerts")["hour"].tolist()
    finding = (
        f"Alerts peak at {int(peak['hour']):02d}:00-{int(peak['hour']):02d}:59 UTC "
        f"({int(peak['alerts']):,} alerts, {peak['alerts_per_1000_reports']:.2f} per 1,000 reports); "
        f"the three busiest hours are {', '.join(f'{h:02d}h' for h in top3)}."
    )

    fig = Figure(figsize=(8, 3.6))
    ax = fig.subplots()
    ax.bar(table["hour"], table["alerts"], color="#c0392b", label="alerts")
    ax.set_xlabel("hour of day (UTC)")
    ax.set_ylabel("alerts")
    ax.set_xticks(range(0, 24, 2))
    rate = ax.twinx()
    rate.plot(table["hour"], table["alerts_per_1000_reports"], color="#2c3e50", marker=".", label="rate")
    rate.set_ylabel("alerts per 1,000 reports")
    ax.set_title("Alerts by hour of day")
    out = pd.DataFrame(table[["hour", "reports", "alerts", "alert_reports", "alerts_per_1000_reports"]])
    return Answer(key="b", title="Alert peak hours", question=QUESTION, finding=finding, table=out,
                  chart_png=figure_png(fig), sql=sql)  # fmt: skip
