"""The browser tests' Chromium probe: skip only where Chromium crashes for the
CPU's reasons (qemu-user), never where it works.

The crash texts are the ones scripts/check-platform logged in its ARM roots
(/var/tmp/webperf3-check/logs/*/chromium.log).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.chromium import crash_line, why_chromium_cannot_start
from webperf3.iperf3.sockets import netstat
from webperf3.iperf3.fleet.cmdline import without_emulator

CHROMIUM = "/usr/bin/chromium"

QEMU_ARM64 = """\
[28094:28159:1126/092625.941817:ERROR:dbus/bus.cc:405] Failed to connect to the bus: Failed to connect to socket /run/dbus/system_bus_socket: No such file or directory
qemu: uncaught target signal 11 (Segmentation fault) - core dumped
[28094:28094:1126/092635.195579:FATAL:content/browser/gpu/gpu_data_manager_impl_private.cc:389] GPU process isn't usable. Goodbye.
qemu: uncaught target signal 6 (Aborted) - core dumped
"""
NO_NEON = """\
The hardware on this system lacks support for NEON SIMD extensions.
We now require NEON or equivalent architecture extensions on ARM-based
machines. See https://lists.debian.org/debian-devel/2023/09/msg00175.html
for more information.
"""
# Failures a working CPU can have: the browser tests must run and show them.
NOT_THE_CPU = [
    "[1:1:ERROR:dbus/bus.cc:405] Failed to connect to the bus\n",
    "/usr/bin/chromium: error while loading shared libraries: libnss3.so: cannot open shared object file\n",
    "[9:9:FATAL:content/browser/gpu/gpu_data_manager_impl_private.cc:389] GPU process isn't usable. Goodbye.\n",
    "Segmentation fault (core dumped)\n",
    "",
]


def test_the_emulator_crashes_are_recognised_and_quoted():
    assert crash_line(QEMU_ARM64) == "qemu: uncaught target signal 11 (Segmentation fault) - core dumped"
    assert crash_line(NO_NEON) == "The hardware on this system lacks support for NEON SIMD extensions."


@pytest.mark.parametrize("output", NOT_THE_CPU)
def test_other_failures_do_not_skip(output):
    assert crash_line(output) is None


def _fake_chromium(tmp_path: Path, stdout: str, stderr: str, code: int) -> str:
    """A real executable standing in for Chromium, printing what one printed."""
    (tmp_path / "out").write_text(stdout)
    (tmp_path / "err").write_text(stderr)
    script = tmp_path / "chromium"
    script.write_text(f"#!/bin/sh\ncat {tmp_path / 'out'}\ncat {tmp_path / 'err'} >&2\nexit {code}\n")
    script.chmod(0o755)
    return str(script)


def test_the_skip_reason_quotes_the_crash_and_its_exit(tmp_path):
    chromium = _fake_chromium(tmp_path, "", QEMU_ARM64, 139)
    reason = why_chromium_cannot_start(chromium)
    assert reason is not None
    assert "exits 139" in reason and "'qemu: uncaught target signal 11 (Segmentation fault) - core dumped'" in reason
    assert "\n" not in reason  # one line in pytest's summary


def test_a_chromium_that_prints_the_page_is_never_skipped_whatever_it_logs(tmp_path):
    chromium = _fake_chromium(tmp_path, "<html><body><p>webperf3-probe-alive</p></body></html>", QEMU_ARM64, 0)
    assert why_chromium_cannot_start(chromium) is None


def test_a_chromium_broken_another_way_is_not_skipped(tmp_path):
    chromium = _fake_chromium(tmp_path, "", NOT_THE_CPU[1], 127)
    assert why_chromium_cannot_start(chromium) is None
    assert why_chromium_cannot_start(str(tmp_path / "missing")) is None


def _emulated() -> bool:
    """Whether this machine runs its programs under qemu-user: a child's
    /proc/PID/cmdline then shows the loader first (our own is disguised)."""
    child = subprocess.Popen(["sleep", "30"], stdin=subprocess.DEVNULL)
    try:
        argv = netstat.read_cmdline(child.pid)
        return bool(argv) and without_emulator(argv) != argv
    finally:
        child.kill()
        child.wait(5)


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} is not installed (Debian package chromium)")
def test_the_real_chromium_is_probed_as_it_is():
    """Here, on a real CPU, Chromium starts and the browser tests run; under
    qemu-user the probe says why not."""
    reason = why_chromium_cannot_start(CHROMIUM)
    if _emulated():
        assert reason is not None and "Chromium cannot start here" in reason
    else:
        assert reason is None, f"the browser tests would be skipped on a real {os.uname().machine}: {reason}"
