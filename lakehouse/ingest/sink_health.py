"""Health from progress: is a sink stuck? Pure logic; the clock and the figures are passed in.

A sink is stuck when messages wait for it on the broker and it has stored nothing for a while.
"Alive" (the process answers) is not enough: a consumer the broker stopped dispatching to
(apache/pulsar#26164, Failover) keeps answering while its backlog grows. Per table, the clock
of a stall starts at the latest of: the sink's start, the last time the broker showed nothing
waiting for it, the last batch it settled (written, or found already stored), the first answer
of the broker after it did not answer. A table whose backlog is unknown (the broker did not
answer) is not called stuck: a restart would not help, and once the broker is back the sink
gets the whole threshold to reconnect and store what waits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Health", "HealthOptions", "StallWatch"]


@dataclass(frozen=True, kw_only=True)
class HealthOptions:
    stall_after_s: float = 120.0  # messages waiting and nothing settled for this long: stuck

    def __post_init__(self) -> None:
        if self.stall_after_s <= 0:
            raise ValueError(f"stall_after_s must be positive, not {self.stall_after_s}")


@dataclass(frozen=True, kw_only=True)
class Health:
    ok: bool
    reasons: tuple[str, ...] = ()  # one per stuck table

    @property
    def text(self) -> str:
        return "ok" if self.ok else "; ".join(self.reasons)


class StallWatch:
    """Per table, when its stall clock started. Feed it each backlog reading (observe) and ask."""

    def __init__(self, *, tables: list[str], started_at: float, options: HealthOptions | None = None) -> None:
        self.options = options or HealthOptions()
        self._since = dict.fromkeys(tables, started_at)  # nothing waiting, or progress, at this time
        self._backlog: dict[str, int | None] = dict.fromkeys(tables)

    def observe(self, table: str, *, backlog: int | None, at: float) -> None:
        """The broker's backlog for this table's partitions assigned to this sink (None: unknown)."""
        unknown_before = self._backlog[table] is None
        self._backlog[table] = backlog
        if backlog == 0 or (backlog is not None and unknown_before):
            self._since[table] = max(self._since[table], at)

    def health(self, *, settled_at: Mapping[str, float | None], now: float) -> Health:
        """`settled_at`: each table's last settled batch (None: none yet)."""
        reasons = []
        for table, since in self._since.items():
            waiting = self._backlog[table]
            if not waiting:
                continue
            start = max(since, settled_at.get(table) or since)
            stalled = now - start
            if stalled >= self.options.stall_after_s:
                reasons.append(f"{table}: {waiting:,} messages waiting and nothing stored for {stalled:.0f}s")
        return Health(ok=not reasons, reasons=tuple(reasons))
