"""Strings from drones, specs and the broker, made safe to show on a terminal.

Every such string is data: rich markup in it must print as written (a citizen named `[/]` once
crashed `alerts tail`), and control or bidi characters must not reach the terminal (OSC hyperlinks,
`ESC[2J`, U+202E reversing a line). They are shown as visible escapes instead.
"""

from __future__ import annotations

import unicodedata

from rich.text import Text

__all__ = ["line", "plain", "text"]

# Bidi embeddings, overrides and isolates, and the marks: they reorder what follows them on screen.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _visible(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _neutral(ch: str) -> bool:
    if ch in _BIDI:
        return False
    # Cc: C0/C1 controls (ESC, CR, BEL, CSI ...); Zl/Zp: line and paragraph separators.
    return unicodedata.category(ch) not in ("Cc", "Zl", "Zp")


def plain(value: object) -> str:
    """`value` as one line of inert text: controls and bidi characters as visible escapes."""
    s = value if isinstance(value, str) else str(value)
    if all(_neutral(ch) for ch in s):
        return s
    return "".join(ch if _neutral(ch) else _visible(ch) for ch in s)


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
