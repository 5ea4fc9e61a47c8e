"""A query result as a rich table (light: no Spark)."""

from __future__ import annotations

import pandas as pd
from rich.table import Table

__all__ = ["rich_table"]


def rich_table(df: pd.DataFrame, *, title: str | None = None, limit: int = 50) -> Table:
    table = Table(*[str(c) for c in df.columns], title=title)
    for row in df.head(limit).itertuples(index=False):
        table.add_row(*[f"{v:,.4g}" if isinstance(v, float) else str(v) for v in row])
    if len(df) > limit:
        table.caption = f"{len(df) - limit:,} more rows"
    return table
