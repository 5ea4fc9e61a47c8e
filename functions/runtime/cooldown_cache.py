"""What an alert function instance knows of citizens' last alerts: the cooldown's read cache.

The state store (BookKeeper's table service) holds each citizen's last alert time; reading it is a
synchronous round trip per bad citizen, on the path of every report queued behind. This cache
answers instead of the store whenever its answer is the store's:

- `_persisted`: alerts this instance persisted (the latest per citizen), and `_in_flight`: alerts
  sent but not yet persisted. Either inside the window suppresses, as before;
- `_state`: a mirror of the store's value per citizen, set by each read and by each write this
  instance made. It answers for the store only while this instance is the store's sole writer
  (the function runs one instance: a restart or a rebalance starts a new process with an empty
  cache, which reads through; the worker stops the old instance before it starts the new one).
  With several instances another one may write a citizen's key, so the store is read as before.

Redelivery needs nothing special: every entry comes from a persisted alert or from the store, so a
redelivered report gets the answer the store would give. A write that failed forgets the mirror
entry (the store may or may not hold it). Bounded: least recently used citizens are dropped and
read through again. Pure logic: the function's I/O is passed in.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["DEFAULT_CAPACITY", "CooldownCache"]

# ~100 bytes per citizen and map: a few tens of MB at most per instance.
DEFAULT_CAPACITY = 100_000
_ABSENT = float("-inf")  # the store holds nothing for this citizen


class _Lru:
    def __init__(self, capacity: int) -> None:
        self._items: OrderedDict[str, float] = OrderedDict()
        self._capacity = capacity

    def get(self, key: str) -> float | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, value: float) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def pop(self, key: str) -> None:
        self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)


class CooldownCache:
    """Thread-safe: the process thread asks, the after-persist thread records writes."""

    def __init__(self, *, sole_writer: bool, capacity: int = DEFAULT_CAPACITY) -> None:
        self.sole_writer = sole_writer
        self._persisted = _Lru(capacity)
        self._state = _Lru(capacity)
        self._in_flight: dict[str, float] = {}
        self._lock = threading.Lock()
        self.reads = 0  # round trips to the store (the figure the cache exists to keep low)

    def last_alert_ts(
        self, citizen_id: str, *, event_ts: float, cooldown_s: float, read: Callable[[str], float | None]
    ) -> float | None:
        """The last alert time the cooldown compares against, as the store-reading function did:
        a known alert inside the window, else the store's value (`read` raises: the caller
        redelivers the report)."""
        with self._lock:
            known = (self._persisted.get(citizen_id), self._in_flight.get(citizen_id))
            mirrored = self._state.get(citizen_id) if self.sole_writer else None
        for ts in known:
            if ts is not None and abs(event_ts - ts) < cooldown_s:
                return ts
        if mirrored is not None:
            return None if mirrored == _ABSENT else mirrored
        value = read(citizen_id)
        with self._lock:
            self.reads += 1
            # A write that landed while we read is newer than what we read: keep the write.
            if self.sole_writer and self._state.get(citizen_id) is None:
                self._state.put(citizen_id, _ABSENT if value is None else value)
        return value

    def sending(self, citizen_id: str, ts: float) -> None:
        with self._lock:
            self._in_flight[citizen_id] = ts

    def forget(self, citizen_id: str, ts: float) -> None:
        """The alert's publish ended (stored or failed): no longer in flight."""
        with self._lock:
            if self._in_flight.get(citizen_id) == ts:
                del self._in_flight[citizen_id]

    def persisted(self, citizen_id: str, ts: float, *, written: bool) -> None:
        """The alert is stored; `written`: its time is now the store's value for the citizen."""
        with self._lock:
            latest = self._persisted.get(citizen_id)
            self._persisted.put(citizen_id, ts if latest is None else max(latest, ts))
            if written:
                self._state.put(citizen_id, ts)
            else:
                self._state.pop(citizen_id)
