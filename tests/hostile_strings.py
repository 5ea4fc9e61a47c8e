"""Hostile strings, generated: what a drone or a spec may send to be shown or stored somewhere.

Markup (rich's, HTML's and matplotlib's mathtext), terminal escapes (CSI, OSC hyperlinks, BEL),
bidi overrides, path- and URL-like text, odd unicode (combining marks, surrogates' neighbours, NUL)
and very long text.
"""

from __future__ import annotations

from hypothesis import strategies as st

__all__ = ["FRAGMENTS", "hostile_text"]

FRAGMENTS = (
    "[/]", "[bold]", "[link=https://evil.example]x[/link]", "\\[", "\\", "[/bold", "[", "]",
    "\x1b[2J", "\x1b]8;;https://evil.example\x07", "\x1b]0;title\x07", "\x07", "\r", "\n", "\x00", "\x9b",
    "\u202e", "\u2066", "\u200f", "\u2028", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
    "&amp;", "\"'`", "../../etc/passwd", "%2e%2e%2f", "?a=b#c", "${HOME}", "$(id)", "{0}", "%s",
    "e\u0301", "\ufeff", "\ufffd", "😀\u200d🔥", "\U0010ffff",
    # matplotlib's mathtext (chart labels): an unbalanced one failed `analyze`.
    "$\\frac{$", "$x^$", "$", "\\$",
)  # fmt: skip


@st.composite
def hostile_text(draw: st.DrawFn, *, max_parts: int = 8) -> str:
    """A mix of hostile fragments and arbitrary text (no surrogates: they are not UTF-8)."""
    parts = draw(
        st.lists(
            st.one_of(
                st.sampled_from(FRAGMENTS),
                st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
            ),
            min_size=1,
            max_size=max_parts,
        )
    )
    return "".join(parts)
