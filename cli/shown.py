"""Strings from drones, specs and the broker, made safe to show on a terminal.

Every such string is data: rich markup in it must print as written (a citizen named `[/]` once
crashed `alerts tail`), and control or bidi characters must not reach the terminal (OSC hyperlinks,
`ESC[2J`, U+202E reversing a line). They are shown as visible escapes instead.
"""

from __future__ import annotations

from rich.text import Text

from peacewatch.platform.inert import plain

__all__ = ["line", "plain", "text"]


def line(*parts: object | tuple[object, str]) -> Text:
    """A line of parts, each `plain()` and never markup; `(value, style)` gives a part a style.

    Not rich's `escape()` spliced into markup: it leaves `\\[` to be unescaped by the parser.
    """
    out = Text()
    for part in parts:
        if isinstance(part, tuple):
            value, style = part
            out.append(plain(value), style=style)
        else:
            out.append(plain(part))
    return out


def text(value: object, style: str = "") -> Text:
    """`plain(value)` as a rich Text: never parsed as markup."""
    return Text(plain(value), style=style)
