"""What every question returns, and the knobs the questions share."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import cast

import matplotlib

matplotlib.use("Agg")  # charts are files; never open a window

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.text import Text
from pydantic import BaseModel, ConfigDict, Field
from pyspark.sql import SparkSession

__all__ = ["AnalysisParams", "Answer", "alert_count", "alert_flag", "figure_png", "run_sql"]


class AnalysisParams(BaseModel):
    """Shared parameters. The defaults suit a few days of a fleet of tens of drones."""

    model_config = ConfigDict(frozen=True)

    threshold: int = Field(default=20, ge=0, le=101, description="A peacescore below this is an alert.")
    grid_deg: float = Field(default=0.01, gt=0, le=1, description="Hotspot grid cell size, degrees.")
    min_cell_reports: int = Field(default=100, ge=1, description="Cells with fewer reports are not ranked.")
    min_word_support: int = Field(
        default=50, ge=1, description="Words heard in fewer reports are not ranked."
    )
    gap_minutes: float = Field(default=3.0, gt=1, description="A longer silence between reports is a gap.")
    wear_per_day: float = Field(
        default=0.02, gt=0, description="Battery drain growth (% per minute, per day) that needs a look."
    )
    top: int = Field(default=15, ge=1, le=200, description="Rows in ranked tables.")


@dataclass(frozen=True, kw_only=True)
class Answer:
    key: str
    title: str
    question: str
    finding: str
    table: pd.DataFrame
    chart_png: bytes
    sql: str


def alert_flag(threshold: int) -> str:
    """SQL: does this report hold an alert (a citizen below the threshold)?

    Over `citizens.peacescore`, not `citizens`: Spark then reads the scores alone from Parquet
    (nested schema pruning), not the names beside them - twice as fast on 10M reports."""
    return f"exists(citizens.peacescore, p -> p < {int(threshold)})"


def alert_count(threshold: int) -> str:
    """SQL: how many citizens of this report are below the threshold."""
    return f"size(filter(citizens.peacescore, p -> p < {int(threshold)}))"


def figure_png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    # Labels hold drone data (heard words): drawn as text, never as mathtext - a word "$\\frac{$"
    # made `analyze` fail with a parse error. The texts made so far, and those made while drawing.
    for text in fig.findobj(Text):
        text.set_parse_math(False)
    with matplotlib.rc_context({"text.parse_math": False}):
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def run_sql(spark: SparkSession, sql: str, *, limit: int | None = None) -> pd.DataFrame:
    """A query's (small) result as pandas, through Arrow."""
    df = spark.sql(sql)
    return cast(pd.DataFrame, (df.limit(limit) if limit else df).toPandas())
