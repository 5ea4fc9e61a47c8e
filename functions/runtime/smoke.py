"""The smallest Python function: proves the functions worker runs Python in our environment."""

from __future__ import annotations

import sys
from typing import Any

from pulsar import Function


class Smoke(Function):  # type: ignore[misc]
    def process(self, input: Any, context: Any) -> str:  # noqa: A002 - Pulsar's signature
        text = input.decode() if isinstance(input, bytes) else str(input)
        return f"smoke:{text}:python{sys.version_info.major}.{sys.version_info.minor}"
