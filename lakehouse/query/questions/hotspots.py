"""(c) Where are the hotspots? Alert rate per geographic grid cell, drawn as a heat map.

Cells with too few reports are not ranked: one alert in three reports is not a hotspot.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pyspark.sql import SparkSession

from .answer import AnalysisParams, Answer, alert_flag, figure_png, run_sql

__all__ = ["QUESTION", "answer", "cell_center"]

QUESTION = "Where are the hotspots?"

SQL = """
SELECT CAST(floor(lat / {grid}) AS BIGINT) AS cy,
       CAST(floor(lon / {grid}) AS BIGINT) AS cx,
       count(*) AS reports,
       sum(CAST({flag} AS INT)) AS alert_reports
FROM {db}.reports
GROUP BY 1, 2
"""


def cell_center(cy: int, cx: int, grid: float) -> tuple[float, float]:
    return (cy + 0.5) * grid, (cx + 0.5) * grid


def answer(spark: SparkSession, *, database: str, params: AnalysisParams) -> Answer:
    g = params.grid_deg
    sql = SQL.format(db=database, grid=repr(g), flag=alert_flag(params.threshold))
    cells = run_sql(spark, sql)
    cells["rate"] = cells["alert_reports"] / cells["reports"]
    overall = cells["alert_reports"].sum() / max(int(cells["reports"].sum()), 1)
    ranked = cells[cells["reports"] >= params.min_cell_reports].sort_values(
        ["rate", "reports"], ascending=[False, False]
    )
    top = ranked.head(params.top)
    centers = [cell_center(int(y), int(x), g) for y, x in zip(top["cy"], top["cx"], strict=True)]
    table = pd.DataFrame(
        {
            "rank": range(1, len(top) + 1),
            "lat": [round(c[0], 5) for c in centers],
            "lon": [round(c[1], 5) for c in centers],
            "reports": top["reports"].to_numpy(),
            "alert_reports": top["alert_reports"].to_numpy(),
            "alerts_per_1000_reports": (1000 * top["rate"]).round(2).to_numpy(),
            "x_overall": (top["rate"] / overall).round(2).to_numpy() if overall else 0.0,
        }
    )
    if len(table):
        first = table.iloc[0]
        km = g * 111.32
        finding = (
            f"Top hotspot: the {km:.1f} km cell centred at {first['lat']:.4f}, {first['lon']:.4f} with "
            f"{first['alerts_per_1000_reports']:.1f} alerts per 1,000 reports, {first['x_overall']:.1f}x the "
            f"force-wide rate ({1000 * overall:.2f})."
        )
    else:
        finding = f"No cell has {params.min_cell_reports} reports yet; collect more data or widen --grid."

    fig = Figure(figsize=(7, 5.4))
    ax = fig.subplots()
    supported = cells[cells["reports"] >= params.min_cell_reports]
    if len(supported):
        y0, x0 = int(cells["cy"].min()), int(cells["cx"].min())
        grid = np.full((int(cells["cy"].max()) - y0 + 1, int(cells["cx"].max()) - x0 + 1), np.nan)
        for cy, cx, rate in zip(supported["cy"], supported["cx"], supported["rate"], strict=True):
            grid[int(cy) - y0, int(cx) - x0] = 1000 * rate
        extent = (x0 * g, (x0 + grid.shape[1]) * g, y0 * g, (y0 + grid.shape[0]) * g)
        img = ax.imshow(grid, origin="lower", extent=extent, cmap="inferno", aspect=1 / math.cos(
            math.radians((extent[2] + extent[3]) / 2)))  # fmt: skip
        fig.colorbar(img, ax=ax, label="alerts per 1,000 reports")
        if len(table):
            ax.scatter(table["lon"][:3], table["lat"][:3], s=120, facecolors="none", edgecolors="#2ecc71")
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title(f"Alert rate per {g:g} degree cell")
    return Answer(key="c", title="Hotspots", question=QUESTION, finding=finding, table=table,
                  chart_png=figure_png(fig), sql=sql)  # fmt: skip
