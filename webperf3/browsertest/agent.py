"""A browser's User-Agent in a few words: "Chrome 131 on Android" (pure)."""

from __future__ import annotations

import re

from ..text import printable

#: Longer descriptions are cut: it is a hint for the person reading the
#: history, not an identity.
AGENT_LIMIT = 60

# Order matters: Edge and Opera say "Chrome" too, Chrome says "Safari".
_BROWSERS = (
    ("Edge", re.compile(r"\bEdgA?/(\d+)")),
    ("Opera", re.compile(r"\bOPR/(\d+)")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/(\d+)")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/(\d+)")),
    ("Chrome", re.compile(r"\b(?:HeadlessChrome|Chrome|CriOS)/(\d+)")),
    ("Safari", re.compile(r"\bVersion/(\d+)[.\d]* (?:Mobile/\S+ )?Safari/")),
)
_SYSTEMS = (
    ("Android", re.compile(r"\bAndroid\b")),
    ("iOS", re.compile(r"\b(?:iPhone|iPad|iPod)\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\bMac OS X\b")),
    ("Linux", re.compile(r"\bLinux\b")),
)


def describe_agent(user_agent: str | None) -> str | None:
    """The browser and its system, or a cleaned cut of the header when
    neither is recognised; None without a header. Whatever the header holds,
    the result is printable text of at most :data:`AGENT_LIMIT` characters."""
    if not user_agent or not user_agent.strip():
        return None
    browser = next((f"{name} {m.group(1)}" for name, rx in _BROWSERS if (m := rx.search(user_agent))), None)
    system = next((name for name, rx in _SYSTEMS if rx.search(user_agent)), None)
    if browser and system:
        text = f"{browser} on {system}"
    else:
        text = browser or system or " ".join(user_agent.split())
    return printable(text, AGENT_LIMIT)
