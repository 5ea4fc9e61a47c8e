"""A stage's dead-letter queue: invalid messages with their reason, once per source message.

Each source partition gets its own producer, named after the stage and the partition, and each
entry's sequence id is the encoded position of the message it dead-letters. The tenant's
namespace has broker deduplication on, so a message redelivered after a crash (or to another
process after a partition moved) is dead-lettered again with the same producer name and
sequence id - and the broker drops the copy. Entries of one partition are sent in position
order, which is what the broker's "highest sequence id seen" rule needs.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

import pulsar
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from peacewatch.platform.errors import PeacewatchError

__all__ = ["DLQ_ERROR_PROPERTY", "DeadLetter", "DeadLetterFailed", "DeadLetterQueue"]

DLQ_ERROR_PROPERTY = "error"


class DeadLetterFailed(PeacewatchError):
    """A dead-letter entry was not persisted: its source message must not be acknowledged."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    payload: bytes
    reason: str
    source_topic: str  # the partition topic it came from
    source_message_id: str
    position: int  # encoded position in the source partition: the entry's sequence id


class DeadLetterQueue:
    def __init__(self, client: pulsar.Client, *, topic: str, stage: str, source_id: str) -> None:
        self._client = client
        self._topic = topic
        self._stage = stage
        self._source_id = source_id
        self._producers: dict[str, pulsar.Producer] = {}
        self._lock = threading.Lock()
        self._failed: list[str] = []

    def _producer_name(self, source_topic: str) -> str:
        return f"{self._stage}:{self._source_id[:8]}:{source_topic.rsplit('/', 1)[-1]}"

    def _producer(self, source_topic: str) -> pulsar.Producer:
        producer = self._producers.get(source_topic)
        if producer is None:
            # Another process may still hold this name for a moment (the partition just moved
            # here): the broker answers ProducerBusy until it lets go.
            for attempt in Retrying(
                retry=retry_if_exception_type(pulsar.ProducerBusy),
                wait=wait_exponential(multiplier=0.2, max=2),
                stop=stop_after_delay(30),
                reraise=True,
            ):
                with attempt:
                    producer = self._client.create_producer(
                        self._topic,
                        producer_name=self._producer_name(source_topic),
                        batching_enabled=False,  # rare messages; one entry, one sequence id
                        block_if_queue_full=True,
                    )
            assert producer is not None
            self._producers[source_topic] = producer
        return producer

    def send(
        self, letter: DeadLetter, *, stage_detail: str = "", on_done: Callable[[bool], None] | None = None
    ) -> None:
        """Send one entry; `on_done(ok)` is called once the broker has answered."""

        def done(result: pulsar.Result, _msg_id: object) -> None:
            ok = result == pulsar.Result.Ok
            if not ok:
                with self._lock:
                    self._failed.append(f"{letter.source_message_id}: {result}")
            if on_done is not None:
                on_done(ok)

        properties = {
            DLQ_ERROR_PROPERTY: letter.reason[:1000],
            "source_topic": letter.source_topic,
            "source_message_id": letter.source_message_id,
            "stage": self._stage + (f"/{stage_detail}" if stage_detail else ""),
        }
        self._producer(letter.source_topic).send_async(
            letter.payload, done, properties=properties, sequence_id=letter.position
        )

    def flush(self) -> None:
        """Wait until every entry sent so far is persisted; DeadLetterFailed if one was not."""
        for producer in list(self._producers.values()):
            producer.flush()
        with self._lock:
            failed, self._failed = self._failed, []
        if failed:
            raise DeadLetterFailed(f"{len(failed)} dead-letter entries were not persisted: {failed[:3]}")

    def close(self) -> None:
        """Let go of the producer names (another process may need them once a partition moves)."""
        for producer in self._producers.values():
            with contextlib.suppress(pulsar.PulsarException):  # the broker is away: the name goes with it
                producer.close()
        self._producers.clear()
