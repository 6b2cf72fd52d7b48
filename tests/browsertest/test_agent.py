"""The browser's description kept with its test: a few readable words."""

from __future__ import annotations

import pytest

from webperf3.browsertest.agent import AGENT_LIMIT, describe_agent


@pytest.mark.parametrize(
    ("header", "described"),
    [
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome 131 on Android"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari 17 on iOS"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge 131 on Windows"),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox 128 on Linux"),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", "Chrome 131 on Linux"),
        ("curl/8.5.0", "curl/8.5.0"),
        ("", None),
        (None, None),
    ],
)
def test_a_user_agent_in_a_few_words(header: str | None, described: str | None) -> None:
    assert describe_agent(header) == described


def test_an_unknown_header_is_cut_and_made_printable() -> None:
    text = describe_agent("evil\x1b[2J\u202e" + "x" * 500)
    assert text is not None and len(text) <= AGENT_LIMIT
    assert "\x1b" not in text and "\u202e" not in text
