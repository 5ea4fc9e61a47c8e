"""(d) Which heard words are most over-represented near bad scores?

Lift = P(alert | word heard) / P(alert): 1 means the word says nothing; 50 means a report with
the word is fifty times likelier to hold an alert. Words heard in fewer than the minimum support
of reports are not ranked (a word heard once, next to an alert, has a huge and meaningless lift).
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from pyspark.sql import SparkSession

from peacewatch.platform.inert import plain

from .answer import AnalysisParams, Answer, alert_flag, figure_png, run_sql

__all__ = ["QUESTION", "answer"]

QUESTION = "Which heard words are most over-represented near bad scores?"

# One pass over the table: every report also counts under a NULL "word" (no heard word is ever
# NULL), whose row holds the totals the lift divides by; a window over the ~100 aggregated rows
# hands them to every word without scanning the table twice.
SQL = """
WITH per_word AS (
  SELECT word, count(*) AS reports, count_if(alert) AS alert_reports
  FROM (SELECT words, {flag} AS alert FROM {db}.reports)
  LATERAL VIEW explode(concat(array(CAST(NULL AS STRING)), array_distinct(words))) w AS word
  GROUP BY word
),
with_totals AS (
  SELECT word, reports, alert_reports,
         max(CASE WHEN word IS NULL THEN reports END) OVER () AS all_reports,
         max(CASE WHEN word IS NULL THEN alert_reports END) OVER () AS all_alert_reports
  FROM per_word
)
SELECT word, reports, alert_reports,
       try_divide(alert_reports / reports, all_alert_reports / all_reports) AS lift
FROM with_totals
WHERE word IS NOT NULL AND reports >= {min_support} AND all_alert_reports > 0
ORDER BY lift DESC, reports DESC
LIMIT {top}
"""


def answer(spark: SparkSession, *, database: str, params: AnalysisParams) -> Answer:
    sql = SQL.format(
        db=database, flag=alert_flag(params.threshold), min_support=int(params.min_word_support),
        top=int(params.top),
    )  # fmt: skip
    table = run_sql(spark, sql)
    table["lift"] = table["lift"].astype(float).round(2)
    table.insert(0, "rank", range(1, len(table) + 1))
    if len(table):
        lead = table.iloc[0]
        finding = (
            f"'{lead['word']}' is the strongest sign: reports with it are {lead['lift']:.1f}x likelier to "
            f"hold an alert ({int(lead['alert_reports']):,} of {int(lead['reports']):,}). Next: "
            + ", ".join(
                f"'{w}' ({x:.1f}x)" for w, x in zip(table["word"][1:5], table["lift"][1:5], strict=True)
            )
            + "."
        )
    else:
        finding = f"No word is heard in {params.min_word_support} reports with alerts around yet."

    fig = Figure(figsize=(7, 0.35 * max(len(table), 4) + 1))
    ax = fig.subplots()
    shown = table.iloc[::-1]
    ax.barh(
        [plain(w) for w in shown["word"]],
        shown["lift"],
        color=["#c0392b" if x >= 2 else "#95a5a6" for x in shown["lift"]],
    )
    ax.axvline(1.0, color="#2c3e50", lw=1, ls="--")
    ax.set_xlabel("lift (1 = no association)")
    ax.set_title(f"Words near bad scores (support >= {params.min_word_support} reports)")
    out = pd.DataFrame(table)
    return Answer(key="d", title="Words near bad scores", question=QUESTION, finding=finding, table=out,
                  chart_png=figure_png(fig), sql=sql)  # fmt: skip
