"""Pulsar message positions (platform.positions) as Delta app-transaction versions.

Each Delta commit of the sink carries, per topic partition, an app transaction
(app_id = "peacewatch-sink:<topic id>:<partition topic>", version = the encoded position of
the highest message it covers). delta-rs reads them back with DeltaTable.transaction_version,
from the log or the latest checkpoint, so a sink knows exactly where each partition's
committed data ends - independent of what the broker thinks was acknowledged.

Positions only mean something for one incarnation of a topic: a topic deleted and created
again, or a broker whose metadata was reset, starts its ledger ids low again, and old
positions would make new reports look stored. So the ids carry the topic's identity (a UUID
onboarding records as a topic property), and each table records, as the app transaction
"peacewatch-source:<topic>", a fingerprint of the identity it follows.
"""

from __future__ import annotations

import uuid

__all__ = ["identity_fingerprint", "sink_app_id", "source_app_id"]


def sink_app_id(topic_id: str, partition_topic: str) -> str:
    return f"peacewatch-sink:{topic_id}:{partition_topic}"


def source_app_id(topic: str) -> str:
    """The app transaction recording which incarnation of `topic` a table follows."""
    return f"peacewatch-source:{topic}"


def identity_fingerprint(topic_id: str) -> int:
    """A topic identity (UUID text) as a positive int64, the only thing an app transaction holds."""
    return int.from_bytes(uuid.UUID(topic_id).bytes[:8], "big") >> 1
