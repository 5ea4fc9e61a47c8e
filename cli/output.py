"""What the commands show: the library's progress as rich spinners, bars and lines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar

__all__ = ["RichProgress"]


class RichProgress:
    """platform.progress.Progress on a rich Console (stderr unless given one)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)

    @contextmanager
    def status(self, text: str) -> Iterator[object]:
        with self.console.status(text):
            yield None

    def note(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False)  # the library's notes quote names

    @contextmanager
    def counting(self, text: str, *, total: int) -> Iterator[Callable[[int], None]]:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Bar(*columns, console=self.console, transient=True) as bar:
            task = bar.add_task(text, total=total)
            yield lambda n: bar.advance(task, n)
