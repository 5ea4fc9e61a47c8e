"""Each topic's identity: a UUID onboarding records as a topic property.

A topic deleted and created again, or a broker whose metadata was reset, loses its properties
and starts its ledger ids low again. Anything that remembers message positions (the Delta
sink's commits, the dead-letter queues' sequence ids) keys them by this identity, so an old
position can never be taken for a new message of the same name.
"""

from __future__ import annotations

import uuid

from peacewatch.platform.errors import PulsarAdminError, SourceTopicChanged
from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.topics import TenantTopics

__all__ = [
    "TOPIC_ID_PROPERTY",
    "ensure_topic_identity",
    "recorded_identity",
    "source_identities",
    "topic_identity",
]

TOPIC_ID_PROPERTY = "peacewatch.topic-id"


def recorded_identity(admin: PulsarAdmin, topic: str) -> str | None:
    """The identity recorded on the topic; None if it has none or does not exist."""
    try:
        found = admin.topic_properties(topic).get(TOPIC_ID_PROPERTY)
    except PulsarAdminError as exc:
        if exc.status != 404:
            raise
        return None
    return None if found is None else str(found)


def topic_identity(admin: PulsarAdmin, topic: str) -> str:
    """The topic's identity; SourceTopicChanged if it has none (not onboarded, or metadata lost)."""
    found = recorded_identity(admin, topic)
    if not found:
        tenant = topic.split("://", 1)[-1].split("/", 1)[0]
        raise SourceTopicChanged(
            f"{topic} has no peacewatch identity: it was not created by onboarding, or the broker's "
            f"metadata was reset. Run `peacewatch tenants apply` (or `tenants add {tenant}`) first"
        )
    return found


def ensure_topic_identity(admin: PulsarAdmin, topic: str) -> str:
    """Give the topic an identity if it has none; returns it."""
    properties = admin.topic_properties(topic)
    if properties.get(TOPIC_ID_PROPERTY):
        return properties[TOPIC_ID_PROPERTY]
    identity = str(uuid.uuid4())
    admin.set_topic_properties(topic, {**properties, TOPIC_ID_PROPERTY: identity})
    return identity


def source_identities(admin: PulsarAdmin, tenant: str) -> dict[str, str]:
    """Identities of the topics a force's lake tables follow: {"reports": ..., "alerts": ...}."""
    topics = TenantTopics(tenant)
    return {"reports": topic_identity(admin, topics.reports), "alerts": topic_identity(admin, topics.alerts)}
