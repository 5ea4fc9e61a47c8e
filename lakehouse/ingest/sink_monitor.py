"""What an operator watches of one sink process: its figures as Prometheus metrics, and its
health from progress (lakehouse.sink_health), both read from the sink's own stats and from the
broker's view of its subscription, polled in a background thread.

Metrics (labels `tenant`, `consumer`, and `table` or `partition`):

- `peacewatch_sink_received_total`, `..._rows_written_total`, `..._commits_total`,
  `..._duplicates_skipped_total`, `..._dead_letters_total{reason=contract|conversion}`,
  `..._commit_retries_total`, `..._held_back_total` (past a gap), `..._redeliveries_total` (asked);
- `peacewatch_sink_last_commit_timestamp_seconds`, `..._last_commit_age_seconds`,
  `..._commit_freshness_seconds` (the last commit of rows - one of dead letters only is not
  counted - and its oldest row: commit time - publish time);
- `peacewatch_sink_backlog_messages{partition}`: waiting on the broker, for the partitions the
  broker dispatches to this consumer; `..._backlog_errors_total`: polls the broker refused;
- `peacewatch_sink_healthy` (1/0), `..._stall_seconds_threshold`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from peacewatch.lakehouse.ingest.backlog import PartitionBacklog, subscription_backlog
from peacewatch.lakehouse.ingest.sink import DeltaSink
from peacewatch.lakehouse.ingest.sink_health import Health, HealthOptions, StallWatch
from peacewatch.platform.errors import PeacewatchError
from peacewatch.platform.metrics_http import registry_of
from peacewatch.platform.pulsar_admin import PulsarAdmin

__all__ = ["SinkMonitor", "WorkerMetrics"]

log = logging.getLogger("peacewatch.lakehouse.ingest.sink_monitor")

_COUNTERS = (  # SinkStats field, metric, help
    ("written", "rows_written", "Rows committed to the Delta table"),
    ("commits", "commits", "Delta commits that wrote rows"),
    ("skipped_duplicates", "duplicates_skipped", "Messages found already stored (redeliveries)"),
    ("retries", "commit_retries", "Commits retried after an outage"),
    ("held_back", "held_back", "Messages left past a gap in their partition, for the broker to redeliver"),
)


class SinkMonitor(Collector):
    """Watches one DeltaSink. Register it on a CollectorRegistry; start() polls the broker."""

    def __init__(
        self,
        sink: DeltaSink,
        *,
        admin: PulsarAdmin,
        subscription: str,
        options: HealthOptions | None = None,
        poll_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`admin` holds the sink's own lake kit token (it may read its topics' stats)."""
        self.sink = sink
        self.options = options or HealthOptions()
        self._admin = admin
        self._subscription = subscription
        self._poll_s = poll_s
        self._clock = clock
        self._watch = StallWatch(tables=list(sink.topics), started_at=clock(), options=self.options)
        self._partitions: dict[str, list[PartitionBacklog]] = {t: [] for t in sink.topics}
        self._errors = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="sink-backlog", daemon=True)

    def registry(self) -> CollectorRegistry:
        return registry_of(self)

    def start(self) -> SinkMonitor:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._admin.close()

    # -- the broker's view ------------------------------------------------------------------------
    def poll_once(self) -> None:
        """Read each table's backlog from the broker once (also what the thread does)."""
        for table, topic in self.sink.topics.items():
            try:
                parts = subscription_backlog(self._admin, topic, subscription=self._subscription)
            except (PeacewatchError, OSError) as exc:
                with self._lock:
                    self._errors += 1
                    self._watch.observe(table, backlog=None, at=self._clock())
                log.warning("%s: could not read the backlog of %s: %s", self.sink.name, topic, exc)
                continue
            mine = [p for p in parts if p.active_consumer == self.sink.name]
            with self._lock:
                self._partitions[table] = mine
                self._watch.observe(table, backlog=sum(p.backlog for p in mine), at=self._clock())

    def _poll(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # logged in poll_once; the thread must live on
                self.poll_once()
            self._stop.wait(self._poll_s)

    # -- health -----------------------------------------------------------------------------------
    def health(self) -> Health:
        settled: dict[str, float | None] = {
            t: stats.last_settled_at for t, stats in self.sink.table_stats.items()
        }
        with self._lock:
            return self._watch.health(settled_at=settled, now=self._clock())

    def check(self) -> tuple[bool, str]:
        """For MetricsServer's /healthz."""
        health = self.health()
        return health.ok, health.text

    # -- metrics ----------------------------------------------------------------------------------
    def collect(self) -> Iterator[Any]:
        sink = self.sink
        base = [sink.tenant, sink.name]
        names = ["tenant", "consumer"]
        received = CounterMetricFamily(
            "peacewatch_sink_received", "Messages received from the broker", labels=names
        )
        received.add_metric(base, sink.received)
        yield received
        redeliveries = CounterMetricFamily(
            "peacewatch_sink_redeliveries",
            "Redeliveries asked of the broker (a gap, a quiet consumer)",
            labels=names,
        )
        redeliveries.add_metric(base, sink.redeliveries)
        yield redeliveries
        tables = [*names, "table"]
        for field, metric, text in _COUNTERS:
            family = CounterMetricFamily(f"peacewatch_sink_{metric}", text, labels=tables)
            for table, stats in sink.table_stats.items():
                family.add_metric([*base, table], getattr(stats, field))
            yield family
        letters = CounterMetricFamily(
            "peacewatch_sink_dead_letters", "Messages dead-lettered, by reason", labels=[*tables, "reason"]
        )
        for table, stats in sink.table_stats.items():
            letters.add_metric([*base, table, "contract"], stats.refused)
            letters.add_metric([*base, table, "conversion"], stats.unconvertible)
        yield letters
        now = self._clock()
        stamp = GaugeMetricFamily(
            "peacewatch_sink_last_commit_timestamp_seconds", "When the last commit that wrote rows landed",
            labels=tables,
        )  # fmt: skip
        age = GaugeMetricFamily(
            "peacewatch_sink_last_commit_age_seconds",
            "Seconds since the last commit that wrote rows",
            labels=tables,
        )
        fresh = GaugeMetricFamily(
            "peacewatch_sink_commit_freshness_seconds",
            "The last commit's oldest row: commit time - publish time",
            labels=tables,
        )
        for table, stats in sink.table_stats.items():
            if stats.last_commit_at is not None:
                stamp.add_metric([*base, table], stats.last_commit_at)
                age.add_metric([*base, table], max(0.0, now - stats.last_commit_at))
            if stats.last_commit_freshness_s is not None:
                fresh.add_metric([*base, table], stats.last_commit_freshness_s)
        yield stamp
        yield age
        yield fresh
        backlog = GaugeMetricFamily(
            "peacewatch_sink_backlog_messages",
            "Messages waiting on the broker for this consumer, per partition it is active for",
            labels=[*tables, "partition"],
        )
        with self._lock:
            for topic_table, parts in self._partitions.items():
                for part in parts:
                    backlog.add_metric([*base, topic_table, part.partition], part.backlog)
            errors = self._errors
        yield backlog
        errors_family = CounterMetricFamily(
            "peacewatch_sink_backlog_errors", "Backlog polls the broker did not answer", labels=names
        )
        errors_family.add_metric(base, errors)
        yield errors_family
        health = self.health()
        healthy = GaugeMetricFamily(
            "peacewatch_sink_healthy", "1 while the sink makes progress", labels=names
        )
        healthy.add_metric(base, 1.0 if health.ok else 0.0)
        yield healthy
        threshold = GaugeMetricFamily(
            "peacewatch_sink_stall_seconds_threshold", "Backlog without progress for this long: unhealthy",
            labels=names,
        )  # fmt: skip
        threshold.add_metric(base, self.options.stall_after_s)
        yield threshold


class WorkerMetrics(Collector):
    """The figures of several sink processes of one pod (`lake run --processes N`), read from each
    one's /metrics when scraped and served as one: their samples differ by their `consumer` label.
    Healthy while every process answers healthy."""

    def __init__(self, urls: list[str], *, timeout_s: float = 5.0) -> None:
        self.urls = urls
        self._http = httpx.Client(timeout=timeout_s)

    def registry(self) -> CollectorRegistry:
        return registry_of(self)

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for url in self.urls:
            try:
                text = self._http.get(f"{url}/metrics").text
            except httpx.HTTPError:
                continue  # starting, or gone: its health says so
            for family in text_string_to_metric_families(text):
                merged = families.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                merged.samples.extend(family.samples)
        yield from families.values()

    def check(self) -> tuple[bool, str]:
        why = []
        for url in self.urls:
            try:
                answer = self._http.get(f"{url}/healthz")
            except httpx.HTTPError as exc:
                why.append(f"{url}: no answer ({exc.__class__.__name__})")
                continue
            if answer.status_code != 200:
                why.append(answer.text.strip())
        return not why, "; ".join(why) or "ok"
