"""The analyses as files: one PNG per question and one self-contained HTML report (images inlined)."""

from __future__ import annotations

import base64
import html
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from peacewatch.lakehouse.query.questions import Answer
from peacewatch.platform.inert import plain

__all__ = ["write_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1000px; color: #222; }
h1 { margin-bottom: 0; } .meta { color: #666; margin-top: .2rem; }
section { border-top: 1px solid #ddd; margin-top: 2rem; padding-top: 1rem; }
.finding { background: #f4f6f8; border-left: 4px solid #c0392b; padding: .6rem 1rem; }
table { border-collapse: collapse; font-size: .85rem; margin: 1rem 0; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: right; }
th { background: #f4f6f8; } img { max-width: 100%; }
details pre { background: #f4f6f8; padding: .6rem; overflow-x: auto; font-size: .8rem; }
"""


def _inert(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(lambda v: plain(v) if isinstance(v, str) else v)
    return out


def _section(answer: Answer) -> str:
    image = base64.b64encode(answer.chart_png).decode()
    return (
        f'<section id="q-{answer.key}">\n'
        f"<h2>({answer.key}) {html.escape(answer.question)}</h2>\n"
        f'<p class="finding">{html.escape(plain(answer.finding))}</p>\n'
        f'<img alt="{html.escape(answer.title)}" src="data:image/png;base64,{image}">\n'
        # Cells hold drone data (words, drone ids): escaped by pandas, controls and bidi made visible.
        + str(_inert(answer.table).to_html(index=False, border=0, float_format=lambda x: f"{x:,.4g}"))
        + f"\n<details><summary>SQL</summary><pre>{html.escape(answer.sql.strip())}</pre></details>\n"
        "</section>\n"
    )


def write_report(answers: list[Answer], *, tenant: str, out_dir: Path, source: str) -> Path:
    """Writes {out_dir}/{key}_{slug}.png per answer and {out_dir}/report.html; returns the HTML path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for a in answers:
        slug = a.title.lower().replace(" ", "-")
        (out_dir / f"{a.key}_{slug}.png").write_bytes(a.chart_png)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>peacewatch - {html.escape(tenant)}</title><style>{_STYLE}</style></head><body>\n"
        f"<h1>{html.escape(tenant)}: what the drones saw</h1>\n"
        f'<p class="meta">{html.escape(source)} - generated {when}</p>\n'
        + "".join(_section(a) for a in answers)
        + "</body></html>\n"
    )
    path = out_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
