"""Drone strings in the analysis's charts and HTML report (lakehouse/query): drawn and written as
inert text. A heard word "$\\frac{$" made `analyze` fail: matplotlib parsed it as mathtext."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

from peacewatch.lakehouse.query.questions import Answer
from peacewatch.lakehouse.query.questions.answer import figure_png
from peacewatch.lakehouse.query.report import write_report
from peacewatch.platform.inert import plain
from tests.hostile_strings import hostile_text

# Controls are drawn as visible escapes; matplotlib still warns of glyphs its font lacks (emoji ...).
pytestmark = pytest.mark.filterwarnings("ignore:Glyph:UserWarning")

_words = st.lists(hostile_text(max_parts=4).filter(bool), min_size=1, max_size=5, unique=True)


def test_an_unbalanced_mathtext_word_is_drawn() -> None:
    fig = Figure()
    fig.subplots().barh(["$\\frac{$", "$x^$"], [1.0, 2.0])
    assert figure_png(fig).startswith(b"\x89PNG")


@settings(max_examples=8, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(words=_words)
def test_hostile_words_are_data_in_the_chart_and_the_report(words: list[str], tmp_path: Path) -> None:
    fig = Figure()
    fig.subplots().barh([plain(w) for w in words], list(range(len(words))))
    table = pd.DataFrame({"word": words, "reports": range(len(words))})
    answer = Answer(key="d", title="t", question="q", finding=f"'{words[0]}' leads", table=table,
                    chart_png=figure_png(fig), sql="SELECT 1")  # fmt: skip
    page = write_report([answer], out_dir=tmp_path / "r", tenant="t", source="s").read_text()
    body = page.split("<body>", 1)[1]
    for w in words:
        assert html.escape(plain(w), quote=False) in body
    for raw in ("<script>", "<img src=x", "\x1b", "\u202e", "\u2066"):
        assert raw not in body
