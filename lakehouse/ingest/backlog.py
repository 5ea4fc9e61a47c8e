"""The broker's view of a sink's subscription: per partition, the messages waiting and which
consumer the Failover dispatcher has made active for it.

Read with the sink's own lake kit (a role that may consume a topic may read its stats); pure
parsing of the stats answer is kept apart from the request, for tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from peacewatch.platform.errors import PulsarAdminError
from peacewatch.platform.pulsar_admin import PulsarAdmin

__all__ = ["PartitionBacklog", "parse_backlog", "subscription_backlog"]


@dataclass(frozen=True, kw_only=True)
class PartitionBacklog:
    partition: str  # the partition's topic name (the topic itself when it has no partitions)
    backlog: int  # messages not yet acknowledged by the subscription
    active_consumer: str | None  # the consumer the broker dispatches this partition to


def _one(partition: str, stats: Mapping[str, Any], subscription: str) -> PartitionBacklog | None:
    sub = (stats.get("subscriptions") or {}).get(subscription)
    if sub is None:
        return None
    return PartitionBacklog(
        partition=partition,
        backlog=int(sub.get("msgBacklog") or 0),
        active_consumer=sub.get("activeConsumerName"),
    )


def parse_backlog(topic: str, stats: Mapping[str, Any], *, subscription: str) -> list[PartitionBacklog]:
    """The answer of `partitioned-stats` (with its `partitions`) or of `stats` (no partitions)."""
    partitions = stats.get("partitions")
    if partitions:
        found = (_one(name, part, subscription) for name, part in sorted(partitions.items()))
        return [p for p in found if p is not None]
    one = _one(topic, stats, subscription)
    return [one] if one is not None else []


def subscription_backlog(admin: PulsarAdmin, topic: str, *, subscription: str) -> list[PartitionBacklog]:
    """Each partition's backlog for `subscription` (none for a partition it has not reached yet)."""
    try:
        stats = admin.topic_stats(topic, partitioned=True)
    except PulsarAdminError as exc:
        if exc.status != 404:  # a topic without partitions has no partitioned-stats
            raise
        stats = admin.topic_stats(topic)
    else:
        if stats.get("metadata", {}).get("partitions", 0) == 0:
            stats = admin.topic_stats(topic)
    return parse_backlog(topic, stats, subscription=subscription)
