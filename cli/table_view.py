"""A query result as a rich table (light: no Spark)."""

from __future__ import annotations

import pandas as pd
from rich.table import Table

from peacewatch.cli.shown import text

__all__ = ["rich_table"]


def rich_table(df: pd.DataFrame, *, title: str | None = None, limit: int = 50) -> Table:
    # Cells and headers are data (drone strings, query aliases): Text, never markup.
    table = Table(title=text(title) if title is not None else None)
    for c in df.columns:
        table.add_column(text(c))
    for row in df.head(limit).itertuples(index=False):
        table.add_row(*[text(f"{v:,.4g}") if isinstance(v, float) else text(v) for v in row])
    if len(df) > limit:
        table.caption = f"{len(df) - limit:,} more rows"
    return table
