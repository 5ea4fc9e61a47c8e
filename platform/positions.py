"""Pulsar message positions as one ordered integer. Pure.

A position inside one partition is (ledger id, entry id, batch index). Encoded in 63 bits it
orders like the messages do, and fits where only an int64 fits: a Delta app-transaction
version (the sink's committed positions) and a producer sequence id (the dead-letter queues'
broker deduplication).
"""

from __future__ import annotations

__all__ = [
    "Position",
    "closes_entry",
    "decode_position",
    "encode_position",
    "entry_size",
    "entry_start",
    "follows",
    "message_position",
]

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


def follows(previous: int, position: int, *, closed: bool) -> bool:
    """Whether `position` can be the message right after `previous` in one partition: the next
    message of the same entry, or - when `previous` `closed` its entry (it was the entry's last
    message, see entry_size) - the first of the next entry or of a later ledger.

    A client cannot see where a ledger ended: a new ledger's first entry is taken to close the
    old ledger. What it does see - an entry or a batch index skipped inside a ledger, an entry
    left before its last message, or a ledger entered past its start - is a gap. A negative
    `previous` (nothing before) is followed by the start of a ledger."""
    if previous < 0:
        return decode_position(position)[1:] == (0, 0)
    if position == ((previous >> _BATCH_BITS) + 1) << _BATCH_BITS:
        return closed  # the next entry's first message (checked first: index 4095 + 1 lands here too)
    if position == previous + 1:
        return True  # the same entry's next message, without decoding
    ledger, entry, index = decode_position(previous)
    next_ledger, next_entry, next_index = decode_position(position)
    if next_ledger == ledger:
        return next_entry == entry and next_index == index + 1
    return closed and next_ledger > ledger and next_entry == 0 and next_index == 0


def entry_start(position: int) -> int:
    """The position of the first message of `position`'s entry."""
    return position >> _BATCH_BITS << _BATCH_BITS


def closes_entry(position: int, size: int) -> bool:
    """Whether `position` is the last message of an entry of `size` messages (0: not batched)."""
    return size <= 0 or position & ((1 << _BATCH_BITS) - 1) == size - 1


def entry_size(message_id: object) -> int:
    """How many messages the entry of `message_id` holds (a producer batch); 0 for a message
    that was not batched, or a client that does not say.

    The Python client exposes no batch size, but its serialized id is the protobuf
    MessageIdData, whose field 6 is the batch size (fields 1-4 are ledger, entry, partition,
    batch index; 5 the ack set). A sink needs it to tell the last message of an entry from one
    in the middle: only the last may be followed by the next entry."""
    data: bytes = message_id.serialize()  # type: ignore[attr-defined]
    i, n = 0, len(data)
    while i < n:
        key, i = _varint(data, i)
        kind = key & 7
        if kind == 0:
            value, i = _varint(data, i)
            if key >> 3 == 6:
                return value
        elif kind == 2:
            length, i = _varint(data, i)
            i += length
        elif kind == 1:
            i += 8
        elif kind == 5:
            i += 4
        else:
            return 0  # not a MessageIdData we can read: unknown
    return 0


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7


def message_position(message_id: object) -> int:
    """The encoded position of a (native or wrapped) Pulsar message id."""
    mid = message_id
    return encode_position((mid.ledger_id(), mid.entry_id(), mid.batch_index()))  # type: ignore[attr-defined]
