"""Pulsar message positions as Delta app-transaction versions.

Each Delta commit of the sink carries, per topic partition, an app transaction
(app_id = "peacewatch-sink:<partition topic>", version = the encoded position of the last
message it wrote). delta-rs reads them back with DeltaTable.transaction_version(app_id),
from the log or the latest checkpoint, so a restarted sink knows exactly where each
partition's committed data ends - independent of what the broker thinks was acknowledged.
"""

from __future__ import annotations

from peacewatch.lakehouse.batching import Position

__all__ = ["decode_position", "encode_position", "sink_app_id"]

# 31 bits of ledger id, 20 of entry id, 12 of batch index: 63 bits, a positive int64.
_LEDGER_BITS, _ENTRY_BITS, _BATCH_BITS = 31, 20, 12


def encode_position(position: Position) -> int:
    ledger, entry, batch = position
    batch = max(batch, 0)  # -1 = not batched
    if not (0 <= ledger < 1 << _LEDGER_BITS and 0 <= entry < 1 << _ENTRY_BITS and batch < 1 << _BATCH_BITS):
        raise ValueError(
            f"message position {position} does not fit the sink's 63-bit version encoding "
            f"(ledger < 2^31, entry < 2^20 - keep managedLedgerMaxEntriesPerLedger below 1,048,576, "
            f"batch index < 4096)"
        )
    return (ledger << (_ENTRY_BITS + _BATCH_BITS)) | (entry << _BATCH_BITS) | batch


def decode_position(version: int) -> Position:
    batch = version & ((1 << _BATCH_BITS) - 1)
    entry = (version >> _BATCH_BITS) & ((1 << _ENTRY_BITS) - 1)
    ledger = version >> (_ENTRY_BITS + _BATCH_BITS)
    return (ledger, entry, batch)


def sink_app_id(partition_topic: str) -> str:
    return f"peacewatch-sink:{partition_topic}"
