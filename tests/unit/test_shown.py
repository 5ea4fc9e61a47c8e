"""Drone strings on a terminal: shown as written, inert (issue 33)."""

from __future__ import annotations

import io
import unicodedata

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from rich.console import Console

from peacewatch.cli.app import _one_line
from peacewatch.cli.functions import alert_line
from peacewatch.cli.shown import line, plain, text
from peacewatch.cli.table_view import rich_table
from tests.hostile_strings import FRAGMENTS, hostile_text
from tests.hypothesis_budget import budget

pytestmark = pytest.mark.hostile

_BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _inert(shown: str) -> bool:
    """Nothing in `shown` drives a terminal or reorders a line."""
    return not any(
        ch in _BIDI or (unicodedata.category(ch) in ("Cc", "Zl", "Zp") and ch != "\n") for ch in shown
    )


def _terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    # A real terminal's console: styles on, hyperlinks on (what `[link=...]` would become).
    return Console(file=out, force_terminal=True, color_system="truecolor", width=10_000), out


@hsettings(max_examples=budget(300))
@given(hostile_text())
def test_a_line_prints_the_string_as_written(s: str) -> None:
    console = Console(file=io.StringIO(), width=100_000, color_system=None)
    with console.capture() as cap:
        console.print(line((s, "bold"), " end ", s), highlight=False, soft_wrap=True)
    assert cap.get() == f"{plain(s)} end {plain(s)}\n"


@hsettings(max_examples=budget(300))
@given(hostile_text())
def test_plain_leaves_nothing_a_terminal_acts_on(s: str) -> None:
    shown = plain(s)
    assert _inert(shown)
    assert "\n" not in shown


def test_a_terminal_gets_no_escape_and_no_hyperlink() -> None:
    console, out = _terminal()
    for s in FRAGMENTS:
        console.print(line((s, "bold")), highlight=False)
    written = out.getvalue()
    assert "\x1b]8;" not in written  # no OSC 8 hyperlink from `[link=...]` nor from the drone
    assert "\x1b[2J" not in written
    assert "\u202e" not in written
    assert "\x07" not in written


def test_plain_keeps_ordinary_text() -> None:
    for s in ("Émile Zoë", "drone-7:a.b_c", "😀\u200d🔥", "e\u0301", "Ω≈ç√∫"):
        assert plain(s) == s


@hsettings(max_examples=budget(100))
@given(hostile_text(), hostile_text())
def test_query_tables_show_cells_and_headers_as_data(column: str, cell: str) -> None:
    console, out = _terminal()
    console.print(rich_table(pd.DataFrame({column or "c": [cell, 1.5, None]})))
    written = out.getvalue()
    assert "\x1b]8;" not in written
    assert "\u202e" not in written
    assert "\x1b[2J" not in written


@hsettings(max_examples=budget(100))
@given(hostile_text())
def test_one_line_errors_print_the_message_as_written(message: str) -> None:
    console = Console(file=io.StringIO(), width=100_000, color_system=None)
    with console.capture() as cap:
        _one_line(console, message)
    assert cap.get() == f"error: {plain(message)}\n"


def test_text_is_never_markup() -> None:
    assert text("[bold]x[/]").plain == "[bold]x[/]"


@hsettings(max_examples=budget(200))
@given(hostile_text(), hostile_text(), hostile_text())
def test_an_alert_line_shows_the_drone_strings_as_written(citizen: str, cid: str, drone: str) -> None:
    """`alerts tail` exited 70 on a citizen named `[/]` (seen): this line is what it prints."""
    alert = {"citizen": citizen, "citizen_id": cid, "peacescore": 3, "threshold": 20, "drone": drone,
             "lat": 1.0, "lon": 2.0}  # fmt: skip
    console, out = _terminal()
    console.print(alert_line(alert, seen="2026-01-01 00:00:00"), highlight=False, soft_wrap=True)
    plain_console = Console(file=io.StringIO(), width=100_000, color_system=None)
    with plain_console.capture() as cap:
        plain_console.print(alert_line(alert, seen="T"), highlight=False, soft_wrap=True)
    assert f" {plain(citizen)} ({plain(cid)}) " in cap.get()
    assert f"drone {plain(drone)} at " in cap.get()
    assert "\x1b]8;" not in out.getvalue()
    assert "\u202e" not in out.getvalue()
