"""Text from the network shown on a terminal or in the journal: one readable line."""

from __future__ import annotations

import logging
import os

import pytest

from webperf3.text import LIMIT, printable, quoted


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("Room 101", "Room 101"),
        ("Büro 3 — 会議室", "Büro 3 — 会議室"),
        ("a\nb", "a\\nb"),
        ("a\r\nb", "a\\r\\nb"),
        ("tab\there", "tab\\there"),
        ("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),  # clear the screen
        ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),  # set the window title
        ("\x00\x7f\x85\x9b", "\\x00\\x7f\\x85\\x9b"),  # NUL, DEL, C1 NEL and CSI
        ("abc\u202edcba", "abc\\u202edcba"),  # right-to-left override
        ("\u2066x\u2069\u200e\u200f\u061c", "\\u2066x\\u2069\\u200e\\u200f\\u061c"),  # isolates and marks
        ("zero\u200bwidth\ufeff", "zero\\u200bwidth\\ufeff"),
        ("line\u2028para\u2029", "line\\u2028para\\u2029"),
        ("bad \udcff byte", "bad \\udcff byte"),  # a lone surrogate: not UTF-8 at all
        ("tag \U000e0041", "tag \\U000e0041"),
        ("\u00a0no-break space", "\u00a0no-break space"),  # harmless: left as it is
    ],
)
def test_control_format_and_separator_characters_are_spelled_out(raw, shown):
    assert printable(raw) == shown
    assert "\n" not in printable(raw) and "\x1b" not in printable(raw)


def test_long_text_is_cut_with_a_visible_ellipsis():
    assert printable("x" * LIMIT) == "x" * LIMIT
    cut = printable("x" * (LIMIT + 1))
    assert cut == "x" * (LIMIT - 1) + "…" and len(cut) == LIMIT
    assert len(printable("y" * 100_000)) == LIMIT


def test_an_escape_is_never_cut_in_half():
    shown = printable("x" * (LIMIT - 3) + "\x1b" * 10)
    assert shown == "x" * (LIMIT - 3) + "…"
    assert printable("x" * (LIMIT - 4) + "\x1b") == "x" * (LIMIT - 4) + "\\x1b"  # exactly the limit: whole
    assert printable("\n" * 500, limit=10) == "\\n" * 4 + "…"


def test_anything_is_shown_as_text():
    assert printable(5201) == "5201" and printable(None) == "None"


def test_quoted_for_the_journal():
    assert quoted("Room 101") == "'Room 101'" and quoted(None) == "-"
    assert quoted("a\nINFO forged") == "'a\\nINFO forged'"


def test_iperf3s_stderr_reaches_the_journal_escaped(caplog):
    from webperf3.iperf3.fleet.servers import forward_stderr

    read, write = os.pipe()
    os.write(write, b"warning \x1b[2J\x1b]0;t\x07 from \xff client\r\nsecond\n")
    os.close(write)
    with caplog.at_level(logging.INFO, logger="webperf3.servers"):
        forward_stderr(os.fdopen(read, "rb"), 5201, 42)
    assert [r.getMessage() for r in caplog.records] == [
        "iperf3 port 5201 (pid 42): warning \\x1b[2J\\x1b]0;t\\x07 from \ufffd client",
        "iperf3 port 5201 (pid 42): second",
    ]
