"""Strings from drones, specs and the broker as inert text, wherever they are shown (terminal,
chart, HTML report): control and bidi characters become visible escapes (OSC hyperlinks,
`ESC[2J`, U+202E reversing a line). Pure logic; `cli/shown.py` adds rich's no-markup Text on top."""

from __future__ import annotations

import unicodedata

__all__ = ["plain"]

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
