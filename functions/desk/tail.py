"""Follow a tenant's alert log (the officers' feed) from a point in time."""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pulsar

from peacewatch.functions.runtime.alert_log import parse_alert_line
from peacewatch.platform.errors import InvalidArgument
from peacewatch.platform.topics import TenantTopics

__all__ = ["RecentIds", "follow_alerts", "parse_since"]

_SINCE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


_REMEMBERED_IDS = 100_000  # a day of alerts at peak for one force; repeats come within minutes


class RecentIds:
    """The last N ids seen: enough to drop redelivery repeats, bounded for a feed that runs for weeks."""

    def __init__(self, size: int) -> None:
        self._order: deque[str] = deque()
        self._ids: set[str] = set()
        self._size = size

    def add(self, item: str) -> bool:
        """False if the id was seen recently."""
        if item in self._ids:
            return False
        self._ids.add(item)
        self._order.append(item)
        if len(self._order) > self._size:
            self._ids.discard(self._order.popleft())
        return True


def parse_since(text: str) -> timedelta:
    """'10m' -> 10 minutes (s, m, h, d)."""
    match = _SINCE.match(text.strip())
    if not match:
        raise InvalidArgument(f"invalid --since {text!r}: use a number and a unit, e.g. 30s, 10m, 2h, 1d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def follow_alerts(
    client: pulsar.Client,
    *,
    tenant: str,
    since: timedelta | None,
    idle_timeout_s: float | None = None,
    limit: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Alerts from the log topic, oldest first, then live, each alert once (a redelivered report
    logs its alerts again, under the same ids). Stops after `limit` alerts or `idle_timeout_s`
    without one (None: follow until interrupted)."""
    topic = TenantTopics(tenant).alert_log
    start = pulsar.MessageId.earliest if since is not None else pulsar.MessageId.latest
    reader = client.create_reader(topic, start)
    try:
        if since is not None:
            reader.seek(int((time.time() - since.total_seconds()) * 1000))
        seen = 0
        recent = RecentIds(_REMEMBERED_IDS)
        last = time.monotonic()
        while limit is None or seen < limit:
            try:
                msg = reader.read_next(timeout_millis=500)
            except pulsar.Timeout:
                if idle_timeout_s is not None and time.monotonic() - last > idle_timeout_s:
                    return
                continue
            fields = parse_alert_line(msg.data().decode(errors="replace"))
            if fields is None or not recent.add(fields["alert_id"]):
                continue
            fields["logged_at_ms"] = msg.publish_timestamp()
            last = time.monotonic()
            seen += 1
            yield fields
    finally:
        reader.close()
