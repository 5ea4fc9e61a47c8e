"""The alert desk's pure parts: what a page is given, repeats, and slow pages."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from peacewatch.functions.desk.feed import DeskFeed, desk_item
from peacewatch.functions.desk.page import desk_page
from peacewatch.platform.contract import Alert, alert_id_for
from peacewatch.platform.contract_data import parse_alert_data


def _alert(score: int = 3, *, name: str = "Ada", offset_h: int = 0) -> dict:  # type: ignore[type-arg]
    report_id = uuid.uuid4()
    tz = timezone(timedelta(hours=offset_h))
    alert = Alert(
        alert_id=alert_id_for(report_id, "c-1"), tenant="north", report_id=report_id, drone_id="d-1",
        ts=datetime(2026, 11, 23, 12, 0, tzinfo=tz), lat=48.85, lon=2.35, citizen_id="c-1", name=name,
        peacescore=score, threshold=20, raised_at=datetime(2026, 11, 23, 12, 0, 1, tzinfo=UTC),
    )  # fmt: skip
    return desk_item(parse_alert_data(alert.to_json()))


def test_a_page_gets_the_alert_and_no_citizen_id() -> None:
    item = _alert(offset_h=2)
    assert set(item) == {
        "alert_id",
        "ts",
        "raised_at",
        "name",
        "peacescore",
        "threshold",
        "drone",
        "lat",
        "lon",
    }
    assert item["ts"] == "2026-11-23T10:00:00+00:00"  # UTC on the page, whatever the drone's offset


def test_repeats_are_shown_once_and_new_pages_start_with_the_recent() -> None:
    feed = DeskFeed(keep=3)
    first = _alert()
    assert feed.publish(first)
    assert not feed.publish(dict(first))  # a redelivered report raises the same alert id
    recent, page = feed.open_page()
    assert recent == [first]
    later = [_alert() for _ in range(4)]
    for item in later:
        feed.publish(item)
    assert [page.get_nowait() for _ in range(4)] == later
    assert feed.open_page()[0] == later[1:]  # only the last `keep`


def test_a_page_too_slow_is_dropped_and_told_so_the_others_go_on() -> None:
    feed = DeskFeed(page_queue=2)
    _, slow = feed.open_page()
    _, fast = feed.open_page()
    items = [_alert() for _ in range(3)]
    for item in items:
        feed.publish(item)
        if not fast.empty():
            assert fast.get_nowait() == item
    assert slow.get_nowait() is None  # end of its stream: EventSource reconnects
    assert feed.pages == 1


@given(st.text(min_size=1, max_size=60))
def test_the_force_name_is_escaped_on_the_page(name: str) -> None:
    page = desk_page(name).decode()
    title = re.search(r"<title>peacewatch alert desk - (.*?)</title>", page, re.S)
    assert title is not None
    assert title.group(1) == html.escape(name)
