"""WebKit, the engine of every iPhone browser, for browser tests: Debian's
WebKitGTK MiniBrowser driven over WebDriver (webkit2gtk-driver's
WebKitWebDriver, with selenium) on an X server of its own (Xvfb).

WebKitGTK has no phone emulation: its window is made phone-sized, which puts
the page in its phone layout (under 760 px) as on an iPhone. The fixtures
(``display``, ``webkit``) are in tests/browser/conftest.py; a test that asks
for ``webkit`` is skipped, with one line saying why, where any part is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DRIVER = "/usr/bin/WebKitWebDriver"
#: Where Debian's webkit2gtk-driver puts the MiniBrowser (its triplet's lib directory).
MINIBROWSERS = sorted(Path("/usr/lib").glob("*/webkit2gtk-4.*/MiniBrowser"))
#: An iPhone's viewport (CSS pixels); GTK may not make the window that narrow.
PHONE = (390, 844)


def why_no_webkit() -> str | None:
    """Why WebKit tests cannot run here, or None when they can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if not Path(DRIVER).is_file() or not MINIBROWSERS:
        return "WebKitGTK's WebDriver is not installed (apt-get install webkit2gtk-driver)"
    if shutil.which("Xvfb") is None:
        return "Xvfb is not installed (apt-get install xvfb)"
    return None


@contextmanager
def x_display() -> Iterator[str]:
    """An X server of the caller's own: the display it chose (-displayfd)."""
    read, write = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as chosen:
            number = chosen.readline().strip()
        assert number.isdigit(), "Xvfb did not start"
        yield f":{number}"
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=10)


@contextmanager
def minibrowser(display: str, home: Path) -> Iterator[Any]:
    """A MiniBrowser under WebKitWebDriver on ``display``; its caches (and
    cookies) in ``home``, so every test starts as a fresh phone."""
    from selenium import webdriver
    from selenium.webdriver.webkitgtk.options import Options
    from selenium.webdriver.webkitgtk.service import Service

    options = Options()
    options.binary_location = str(MINIBROWSERS[-1])
    options.add_argument("--automation")
    env = {**os.environ, "DISPLAY": display, "HOME": str(home)}
    driver = webdriver.WebKitGTK(options=options, service=Service(executable_path=DRIVER, env=env))
    try:
        yield driver
    finally:
        driver.quit()
