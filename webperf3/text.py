"""Text from the network, made safe to show on a terminal or in the journal.

A client names its test with ``--extra-data``: any bytes it likes. Shown
raw, a newline forges a journal line or breaks a table, an escape sequence
clears the screen or sets the window title, and a bidi override reorders
what the reader sees. :func:`printable` spells every such character out as
Python would (``\\n``, ``\\x1b``, ``\\u202e``) and caps the length, so one
name is one readable piece of one line. The CSV, JSON and .xlsx keep the
text whole: this is only for showing it.
"""

from __future__ import annotations

import unicodedata

#: Characters shown at most; a longer text ends in "…".
LIMIT = 200
ELLIPSIS = "…"
#: Unicode categories spelled out: controls (C0, DEL, C1), format characters
#: (bidi marks and overrides, zero-width ones, the BOM), line and paragraph
#: separators, and lone surrogates (bytes that were not UTF-8), which no
#: terminal or journal can take.
_ESCAPED = frozenset(("Cc", "Cf", "Zl", "Zp", "Cs"))
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: object, limit: int = LIMIT) -> str:
    """*text* with every control, format and separator character escaped,
    cut to *limit* characters ending in "…" when longer."""
    text = str(text)
    if len(text) <= limit and text.isprintable():  # nearly always: no work
        return text
    pieces: list[str] = []
    size = 0
    for char in text:
        piece = char if char == " " or char.isprintable() or unicodedata.category(char) not in _ESCAPED else _escape(char)
        if size + len(piece) > limit - 1:
            # Room for the ellipsis, never half an escape; the last piece
            # fits after all if it is the end of the text.
            if size + len(piece) <= limit and len(pieces) + 1 == len(text):
                pieces.append(piece)
                return "".join(pieces)
            return "".join(pieces) + ELLIPSIS
        pieces.append(piece)
        size += len(piece)
    return "".join(pieces)


def quoted(text: str | None, limit: int = LIMIT) -> str:
    """``'Room 101'`` for a journal line; ``-`` when there is none."""
    return "-" if text is None else f"'{printable(text, limit)}'"


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def whole_number(text: str, low: int, high: int) -> int | None:
    """*text* (a query parameter) as a whole number from *low* to *high*, or
    None. Plain ASCII digits only, and never more of them than *high* has: a
    5,000-digit parameter is refused by its length, before ``int()`` (which
    raises on 4,301 digits and more, an error no request should cause)."""
    if not (text.isascii() and text.isdigit()) or len(text.lstrip("0")) > len(str(high)):
        return None
    value = int(text)
    return value if low <= value <= high else None
