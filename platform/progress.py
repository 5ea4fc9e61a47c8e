"""Progress of long work (downloads, builds, deploys, Spark starting), reported by the library and
shown by whoever called it.

The library never prints: it tells a Progress what it is doing. The CLI passes one that draws
rich spinners and bars (peacewatch.cli.output); everything else gets LOGGED, which writes the
same lines to the `peacewatch` logger.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

__all__ = ["LOGGED", "LogProgress", "Progress"]


class Progress(Protocol):
    def status(self, text: str) -> AbstractContextManager[object]:
        """Around a wait whose length is unknown ("Building MinIO ...")."""
        ...

    def note(self, text: str) -> None:
        """One line of what happened ("minio built: ...")."""
        ...

    def counting(self, text: str, *, total: int) -> AbstractContextManager[Callable[[int], None]]:
        """Around work of `total` units; the callable it yields advances by n units."""
        ...


class LogProgress:
    """Progress as log lines (INFO) on the `peacewatch` logger."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger("peacewatch")

    @contextmanager
    def status(self, text: str) -> Iterator[object]:
        self._log.info(text)
        yield None

    def note(self, text: str) -> None:
        self._log.info(text)

    @contextmanager
    def counting(self, text: str, *, total: int) -> Iterator[Callable[[int], None]]:
        self._log.info("%s (%d)", text, total)
        yield lambda _n: None


LOGGED: Progress = LogProgress()
