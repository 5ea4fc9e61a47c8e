"""(a) Is there more agitation on weekdays or at weekends?

Alert rate per report (the share of reports holding an alert), so a busier day type does not
look more agitated just because drones sent more reports.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from pyspark.sql import SparkSession

from .answer import AnalysisParams, Answer, alert_flag, figure_png, run_sql

__all__ = ["QUESTION", "answer"]

QUESTION = "Is there more agitation on weekdays or at weekends?"

_DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]  # Spark's dayofweek: 1 = Sunday

SQL = """
SELECT dayofweek(ts) AS dow,
       count(*) AS reports,
       sum(CAST({flag} AS INT)) AS alert_reports
FROM {db}.reports
GROUP BY dayofweek(ts)
ORDER BY dow
"""


def answer(spark: SparkSession, *, database: str, params: AnalysisParams) -> Answer:
    sql = SQL.format(db=database, flag=alert_flag(params.threshold))
    by_day = run_sql(spark, sql)
    by_day["day"] = [_DAYS[d - 1] for d in by_day["dow"]]
    by_day["day_type"] = ["weekend" if d in (1, 7) else "weekday" for d in by_day["dow"]]
    by_day["per_1000"] = 1000 * by_day["alert_reports"] / by_day["reports"]
    table = by_day.groupby("day_type", as_index=False)[["reports", "alert_reports"]].sum()
    table["per_1000"] = 1000 * table["alert_reports"] / table["reports"]
    rates = dict(zip(table["day_type"], table["per_1000"], strict=True))
    wd, we = rates.get("weekday"), rates.get("weekend")
    if wd and we:
        more = "weekends" if we > wd else "weekdays"
        finding = (
            f"More agitation on {more}: {we:.2f} alerts per 1,000 reports at weekends vs {wd:.2f} on "
            f"weekdays ({we / wd:.2f}x)."
        )
    else:
        finding = "The data covers only one day type; no comparison yet."

    fig = Figure(figsize=(7, 3.6))
    ax = fig.subplots()
    order = [1, 2, 3, 4, 5, 6, 0]  # Monday first
    rows = by_day.set_index("dow").reindex([o + 1 for o in order])
    colors = ["#c0392b" if d in (1, 7) else "#2c7fb8" for d in rows.index]
    ax.bar([_DAYS[o] for o in order], rows["per_1000"].fillna(0), color=colors)
    for day_type, color in (("weekday", "#2c7fb8"), ("weekend", "#c0392b")):
        if day_type in rates:
            ax.axhline(rates[day_type], color=color, ls="--", lw=1, label=f"{day_type} mean")
    ax.set_ylabel("alerts per 1,000 reports")
    ax.set_title("Alert rate by day of week")
    ax.legend(loc="upper left", fontsize=8)
    detail = pd.DataFrame(
        {
            "day_type": table["day_type"],
            "reports": table["reports"],
            "alert_reports": table["alert_reports"],
            "alerts_per_1000_reports": table["per_1000"].round(3),
        }
    )
    return Answer(key="a", title="Weekdays or weekends", question=QUESTION, finding=finding, table=detail,
                  chart_png=figure_png(fig), sql=sql)  # fmt: skip
