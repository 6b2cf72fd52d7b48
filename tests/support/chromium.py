"""Whether Chromium can start on this machine at all (tests/browser/conftest.py).

Under qemu-user (scripts/check-platform's ARM roots) Debian's Chromium dies
before any page: qemu-aarch64 reports ``qemu: uncaught target signal 11
(Segmentation fault)``, and on armhf Chromium finds no NEON in the host's
/proc/cpuinfo and says so. There the browser tests cannot say anything about
the project, so they are skipped with that line quoted. Anything else, a
Chromium that starts, hangs or fails some other way, leaves them to run and
fail loudly: the probe only recognises those crashes, so it cannot hide a
broken page or a broken install on a machine where Chromium works.
"""

from __future__ import annotations

import subprocess

# Lines that show Chromium cannot run on this CPU (or its emulation), first match quoted.
CRASH_SIGNS = (
    "qemu: uncaught target signal",
    "lacks support for NEON",
)
PROBE_PAGE = "data:text/html,<p>webperf3-probe-alive</p>"


def crash_line(output: str) -> str | None:
    """The line of *output* that shows Chromium crashed on this CPU, if any."""
    for line in output.splitlines():
        if any(sign in line for sign in CRASH_SIGNS):
            return line.strip()
    return None


def why_chromium_cannot_start(chromium: str, timeout: float = 180.0) -> str | None:
    """A bare headless launch of *chromium*: the skip reason when it crashes
    for the CPU's reasons, else None (it works, or fails in a way the browser
    tests themselves must show)."""
    try:
        done = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", PROBE_PAGE],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = done.stdout.decode(errors="replace")
    if "webperf3-probe-alive" in out:
        return None
    line = crash_line(out + "\n" + done.stderr.decode(errors="replace"))
    if line is None:
        return None
    why = (
        "qemu-user's emulation crashed it; on real hardware the browser tests run"
        if "qemu" in line
        else "Debian's Chromium needs an ARM CPU with NEON; under qemu-user it reads the host's /proc/cpuinfo"
    )
    return f"Chromium cannot start here: a bare `{chromium} --headless` exits {done.returncode} saying {line!r} ({why})"
