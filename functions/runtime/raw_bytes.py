"""The alert function's input SerDe: a report's bytes exactly as the drone sent them.

The Python runtime's default (IdentitySerDe) tries int, float and complex on every payload and
hands over a str: three exceptions and a UTF-8 decode per report (the function then encoded it
back), and a payload such as `1_000` or ` 12 ` reached the dead-letter queue altered (`1000`,
`12`) instead of as sent.
"""

from __future__ import annotations

from pulsar import SerDe

__all__ = ["RawBytes"]


class RawBytes(SerDe):  # type: ignore[misc]
    def serialize(self, input: bytes) -> bytes:  # noqa: A002 - Pulsar's signature
        return input

    def deserialize(self, input_bytes: bytes) -> bytes:
        return input_bytes
