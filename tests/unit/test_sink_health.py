"""Health from progress (lakehouse.sink_health), the broker's backlog answer (lakehouse.backlog)
and the sink's figures summed per process: pure logic, inputs generated."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from peacewatch.lakehouse.ingest.backlog import parse_backlog
from peacewatch.lakehouse.ingest.batching_sink import SinkStats
from peacewatch.lakehouse.ingest.sink_health import HealthOptions, StallWatch

STALL = 60.0

# A table's history: each step moves the clock, then the broker's backlog is read (None: it did
# not answer) or the sink settles a batch.
_step = st.tuples(
    st.floats(min_value=0.0, max_value=50.0, allow_nan=False),
    st.one_of(st.integers(min_value=0, max_value=3).map(lambda n: ("backlog", n)), st.just(("backlog", None)),
              st.just(("settled", None))),
)  # fmt: skip


@given(st.lists(_step, max_size=40))
def test_stuck_exactly_when_messages_wait_and_nothing_moved_for_the_threshold(steps: list) -> None:  # type: ignore[type-arg]
    start = 1_000.0
    watch = StallWatch(tables=["reports"], started_at=start, options=HealthOptions(stall_after_s=STALL))
    now, settled, moved, waiting = start, None, [start], None
    for dt, (kind, value) in steps:
        now += dt
        if kind == "settled":
            settled = now
            moved.append(now)
        else:
            watch.observe("reports", backlog=value, at=now)
            if value == 0 or (value is not None and waiting is None):  # drained, or the broker back
                moved.append(now)
            waiting = value
        health = watch.health(settled_at={"reports": settled}, now=now)
        recent = any(now - t < STALL for t in moved)
        if not waiting:  # nothing waiting, or unknown: never stuck (a restart would not help)
            assert health.ok
        elif recent:  # started, drained, stored or the broker back within the threshold
            assert health.ok, health.text
        else:
            assert not health.ok
            assert "reports" in health.text
            assert f"{waiting:,} messages waiting" in health.text


def test_one_stuck_table_is_named_and_the_other_is_not() -> None:
    watch = StallWatch(
        tables=["reports", "alerts"], started_at=0.0, options=HealthOptions(stall_after_s=STALL)
    )
    watch.observe("reports", backlog=500, at=10.0)
    watch.observe("alerts", backlog=2, at=10.0)
    health = watch.health(settled_at={"reports": None, "alerts": 100.0}, now=120.0)
    assert not health.ok
    assert health.reasons == (
        "reports: 500 messages waiting and nothing stored for 110s",
    )  # since the first reading


def test_a_quiet_table_that_gets_a_message_has_the_whole_threshold() -> None:
    # Hours without alerts, then one arrives: the clock starts at the last empty reading.
    watch = StallWatch(tables=["alerts"], started_at=0.0, options=HealthOptions(stall_after_s=STALL))
    watch.observe("alerts", backlog=0, at=7_200.0)
    watch.observe("alerts", backlog=1, at=7_210.0)
    assert watch.health(settled_at={"alerts": None}, now=7_210.0).ok
    assert not watch.health(settled_at={"alerts": None}, now=7_261.0).ok


def test_partitioned_stats_give_each_partitions_backlog_and_active_consumer() -> None:
    # The shape of the broker's partitioned-stats (perPartition) and stats answers.
    topic = "persistent://north/drones/reports"
    stats = {
        "metadata": {"partitions": 2},
        "subscriptions": {"lake-sink": {"msgBacklog": 7}},
        "partitions": {
            f"{topic}-partition-1": {
                "subscriptions": {"lake-sink": {"msgBacklog": 5, "activeConsumerName": "b"}}
            },
            f"{topic}-partition-0": {
                "subscriptions": {
                    "lake-sink": {"msgBacklog": 2, "activeConsumerName": "a"},
                    "other": {"msgBacklog": 9},
                }
            },
        },
    }
    parts = parse_backlog(topic, stats, subscription="lake-sink")
    assert [(p.partition[-1], p.backlog, p.active_consumer) for p in parts] == [("0", 2, "a"), ("1", 5, "b")]
    one = parse_backlog("t", {"subscriptions": {"lake-sink": {"msgBacklog": 3}}}, subscription="lake-sink")
    assert [(p.partition, p.backlog, p.active_consumer) for p in one] == [("t", 3, None)]
    assert parse_backlog("t", {"subscriptions": {}}, subscription="lake-sink") == []


@given(st.lists(st.tuples(st.integers(0, 10**6), st.none() | st.floats(0, 1e9)), min_size=1, max_size=4))
def test_a_process_figures_are_its_tables_summed_with_the_newest_times(parts: list) -> None:  # type: ignore[type-arg]
    tables = [SinkStats(written=w, commits=w // 2, last_commit_at=t, last_settled_at=t) for w, t in parts]
    merged = SinkStats.merged(tables)
    assert merged.written == sum(w for w, _ in parts)
    assert merged.commits == sum(w // 2 for w, _ in parts)
    times = [t for _, t in parts if t is not None]
    assert merged.last_commit_at == (max(times) if times else None)
    assert merged.last_settled_at == (max(times) if times else None)


def test_a_long_running_sink_keeps_a_bounded_number_of_freshness_samples() -> None:
    # ~200 samples a commit, a commit a second: a list grew by hundreds of MB a day in a pod.
    stats = SinkStats()
    limit = stats.freshness_ms.maxlen
    assert limit is not None
    stats.freshness_ms.extend(float(i) for i in range(limit + 5_000))
    assert len(stats.freshness_ms) == limit
    assert stats.freshness_ms[-1] == float(limit + 4_999)  # the newest kept
