"""What the alert desk shows, and its fan-out to open pages. Pure: no I/O.

The desk shows the alert stream and nothing more: each item is one alert's time, citizen name,
peacescore, drone and place. No citizen id, no history per person - there is no view to build
one from. Repeats (a redelivered report raises the same alert ids) are dropped once.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from datetime import UTC
from typing import Any

from peacewatch.functions.desk.tail import RecentIds
from peacewatch.platform.contract_data import AlertData

__all__ = ["DeskFeed", "desk_item"]


def desk_item(alert: AlertData) -> dict[str, Any]:
    """The page's view of one validated alert (JSON-ready)."""
    return {
        "alert_id": str(alert["alert_id"]),
        "ts": alert["ts"].astimezone(UTC).isoformat(timespec="seconds"),
        "raised_at": alert["raised_at"].astimezone(UTC).isoformat(timespec="milliseconds"),
        "name": alert["name"],
        "peacescore": alert["peacescore"],
        "threshold": alert["threshold"],
        "drone": alert["drone_id"],
        "lat": alert["lat"],
        "lon": alert["lon"],
    }


class DeskFeed:
    """The recent alerts, and a queue per open page that new ones are put on.

    A page too slow to take its alerts (its queue full) is dropped: it reconnects (EventSource
    does so by itself) and starts again from the recent ones, rather than holding the others back."""

    def __init__(self, *, keep: int = 500, page_queue: int = 1000) -> None:
        self._recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self._seen = RecentIds(100_000)
        self._pages: set[queue.Queue[dict[str, Any] | None]] = set()
        self._page_queue = page_queue
        self._lock = threading.Lock()

    def publish(self, item: dict[str, Any]) -> bool:
        """False for a repeat (already shown)."""
        with self._lock:
            if not self._seen.add(item["alert_id"]):
                return False
            self._recent.append(item)
            for page in list(self._pages):
                try:
                    page.put_nowait(item)
                except queue.Full:
                    self._pages.discard(page)
                    page.queue.clear()
                    page.put_nowait(None)  # tells the page's stream to end
            return True

    def open_page(self) -> tuple[list[dict[str, Any]], queue.Queue[dict[str, Any] | None]]:
        """The recent alerts (oldest first) and the queue the next ones arrive on, atomically."""
        page: queue.Queue[dict[str, Any] | None] = queue.Queue(self._page_queue)
        with self._lock:
            self._pages.add(page)
            return list(self._recent), page

    def close_page(self, page: queue.Queue[dict[str, Any] | None]) -> None:
        with self._lock:
            self._pages.discard(page)

    @property
    def pages(self) -> int:
        with self._lock:
            return len(self._pages)
