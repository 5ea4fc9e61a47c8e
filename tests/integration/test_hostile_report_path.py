"""Hostile drone strings through the real report path (issue 33): generated citizen names and words
- markup, terminal escapes, bidi, path-like, odd unicode, long - published as valid reports, then
read back where people see them: `alerts tail` (it once exited 70 on a `[/]`), `sql` and
`analyze` to a terminal, and `analyze`'s HTML page. Each must exit 0, show every name, and let no
escape or bidi control through."""

from __future__ import annotations

import html
import os
import pty
import select
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pulsar
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from peacewatch.cli.shown import plain
from peacewatch.lakehouse.query.questions.answer import AnalysisParams
from peacewatch.platform.clients import pulsar_admin
from peacewatch.platform.contract import Citizen, Report
from peacewatch.platform.settings import Settings
from tests.hostile_strings import hostile_text

from .alerting_helpers import publish
from .conftest import cli_env, onboard, sink_process, wait_for_rows

pytestmark = [pytest.mark.integration, pytest.mark.hostile, pytest.mark.slow]

_RAW = ("\x1b]8;", "\x1b[2J", "\u202e", "\x07", "\x9b")


def _on_a_terminal(settings: Settings, *args: str, timeout_s: float = 120) -> tuple[int, str]:
    """A `peacewatch` command with its stdout on a pseudo-terminal (where escapes would act)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "peacewatch.cli.app", *args],
                            env={**cli_env(settings), "COLUMNS": "400", "TERM": "xterm-256color"},
                            stdout=follower, stderr=follower, stdin=subprocess.DEVNULL)  # fmt: skip
    os.close(follower)
    out = b""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(leader)
    return proc.wait(timeout=30), out.decode("utf-8", "replace")


_names = st.lists(hostile_text().filter(lambda s: 1 <= len(s) <= 200), min_size=6, max_size=6, unique=True)


@hsettings(max_examples=1, suppress_health_check=list(HealthCheck))
@given(names=_names, words=st.lists(hostile_text().filter(lambda s: len(s) <= 100), min_size=1, max_size=5))
def test_hostile_names_are_shown_as_data(
    stack,
    settings: Settings,
    client: pulsar.Client,
    names: list[str],
    words: list[str],
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    tenant = f"hs-{uuid.uuid4().hex[:6]}"
    with pulsar_admin(settings) as admin:
        onboard(settings, admin, tenant, partitions=1, with_function=True)
    reports = [
        Report(report_id=uuid.uuid4(), drone_id=f"d-{i}", ts=datetime.now(UTC), lat=48.85, lon=2.35,
               battery_pct=50.0, words=words,
               citizens=[Citizen(citizen_id=f"c-{i}", name=name, peacescore=2)])
        for i, name in enumerate(names)
    ]  # fmt: skip
    # Enough reports hearing the words for `analyze` to rank them (its minimum support), no alert.
    support = AnalysisParams().min_word_support
    reports += [
        Report(report_id=uuid.uuid4(), drone_id=f"q-{i}", ts=datetime.now(UTC), lat=48.85, lon=2.35,
               battery_pct=50.0, words=words,
               citizens=[Citizen(citizen_id=f"q-{i}", name="calm", peacescore=90)])
        for i in range(support)
    ]  # fmt: skip
    sink = sink_process(settings, tenant, "hostile")
    try:
        publish(client, tenant, [(r.drone_id, r.to_json()) for r in reports])
        code, tail = _on_a_terminal(settings, "alerts", "tail", "-t", tenant, "--since", "10m",
                                    "--limit", str(len(names)), "--idle-timeout", "60")  # fmt: skip
        assert code == 0, tail
        for raw in _RAW:
            assert raw not in tail
        for name in names:
            assert plain(name)[:20] in tail.replace("\r\n", "\n").replace("\n", "")  # rich may wrap
        wait_for_rows(settings, tenant, len(reports), timeout_s=120)
        code, table = _on_a_terminal(settings, "sql", "-t", tenant, "SELECT name, drone_id FROM sightings")
        assert code == 0, table
        for raw in _RAW:
            assert raw not in table
        # The words in `analyze`'s table, chart and page (a word "$\\frac{$" failed its chart).
        code, shown = _on_a_terminal(settings, "analyze", "-t", tenant, "-q", "d", "--out", str(tmp_path),
                                     timeout_s=600)  # fmt: skip
        assert code == 0, shown
        for raw in _RAW:
            assert raw not in shown
        page = (tmp_path / tenant / "report.html").read_text()
        for word in words:
            assert html.escape(plain(word), quote=False) in page
        for raw in (*_RAW, "<script>", "<img src=x"):
            assert raw not in page.split("<body>", 1)[1]
    finally:
        sink.terminate()
        sink.wait(timeout=30)
