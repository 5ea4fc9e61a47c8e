"""Pulsar message positions as one ordered integer. Pure.

A position inside one partition is (ledger id, entry id, batch index). Encoded in 63 bits it
orders like the messages do, and fits where only an int64 fits: a Delta app-transaction
version (the sink's committed positions) and a producer sequence id (the dead-letter queues'
broker deduplication).
"""

from __future__ import annotations

__all__ = ["Position", "decode_position", "encode_position", "follows", "message_position"]

Position = tuple[int, int, int]

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


def follows(previous: int, position: int) -> bool:
    """Whether `position` can be the message right after `previous` in one partition: the next
    message of the same entry, the first of the next entry, or the first of a later ledger.

    A client cannot see how many messages an entry holds, nor where a ledger ended: the first
    message of the next entry is taken to close its predecessor, and a new ledger's first entry
    to close the old ledger. What it does see - an entry or a batch index skipped inside a
    ledger, or a ledger entered past its start - is a gap. A negative `previous` (nothing
    before) is followed by the start of a ledger."""
    if previous < 0:
        return decode_position(position)[1:] == (0, 0)
    if position == previous + 1 or position == ((previous >> _BATCH_BITS) + 1) << _BATCH_BITS:
        return True  # the common cases, without decoding
    ledger, entry, index = decode_position(previous)
    next_ledger, next_entry, next_index = decode_position(position)
    if next_ledger == ledger:
        same_entry = next_entry == entry and next_index == index + 1
        return same_entry or (next_entry == entry + 1 and next_index == 0)
    return next_ledger > ledger and next_entry == 0 and next_index == 0


def message_position(message_id: object) -> int:
    """The encoded position of a (native or wrapped) Pulsar message id."""
    mid = message_id
    return encode_position((mid.ledger_id(), mid.entry_id(), mid.batch_index()))  # type: ignore[attr-defined]
