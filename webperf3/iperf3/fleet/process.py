"""One iperf3 server process: its command line, its version, starting and signalling it.

Pure functions and thin system calls, apart from the fleet that supervises
the processes (:mod:`.servers`).
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

INSTALL_HINT = "install it with `sudo apt install iperf3`"
#: Set in each child's environment: lets a later run recognise the iperf3
#: servers of a webperf3 that died, and tell them from anyone else's.
PARENT_ENV = "WEBPERF3_PARENT_PID"


class Iperf3Error(RuntimeError):
    """iperf3 cannot be run."""


class Iperf3NotFound(Iperf3Error):
    """The iperf3 binary does not exist (at the given path or on PATH)."""

    def __init__(self, path: str = "iperf3") -> None:
        self.path = path
        where = "" if path == "iperf3" else f" at {path}"
        super().__init__(f"iperf3 not found{where}: {INSTALL_HINT}")


def parse_version(text: str) -> str | None:
    """``"iperf 3.12 (cJSON 1.7.15)\\n…"`` → ``"3.12"``."""
    match = re.search(r"\biperf\s+(\d+(?:\.\d+)+[\w.+-]*)", text)
    return match.group(1) if match else None


def format_exit(returncode: int) -> str:
    """A Popen return code as a person reads it: ``exit code 1``, ``signal SIGKILL``."""
    if returncode >= 0:
        return f"exit code {returncode}"
    try:
        return f"signal {signal.Signals(-returncode).name}"
    except ValueError:
        return f"signal {-returncode}"


def version_key(version: str | None) -> tuple[int, ...]:
    """``"3.12"`` → ``(3, 12)``, ``"3.19.1"`` → ``(3, 19, 1)``, ``"3.21+"`` → ``(3, 21)``; ``()`` if unknown."""
    match = re.match(r"\d+(?:\.\d+)*", version or "")
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


# When iperf3's server gained each option webperf3 gives it (iperf3's
# RELNOTES.md, checked in the sources of 3.9, 3.18 and 3.21):
#: TCP_USER_TIMEOUT on the server's sockets: a client that vanished mid
#: download (-R, --bidir) ends the test instead of 15 minutes of retransmits.
#: (3.16 to 3.18 take the option but go on waiting, esnet/iperf#1858.)
SND_TIMEOUT_SINCE = (3, 12)
#: End an upload that receives nothing for this long instead of 120 s. The
#: option exists since 3.10, but before 3.18 a value over 10 s never fires
#: (esnet/iperf#1744). Before 3.20 it also counts in --bidir tests, which
#: esnet/iperf#1766 saw ended early; it fires only when nothing at all has
#: arrived for the whole time, and the 120 s default applies there anyway.
RCV_TIMEOUT_SINCE = (3, 18)
#: TCP keepalive on the control connection: a client that vanished during any
#: test, UDP included, is noticed though the connection carries nothing.
CNTL_KA_SINCE = (3, 19)
#: Refuse a test that asks for more time than this (or no end, ``-t 0``):
#: the client is told at once, instead of webperf3 killing it as stuck later.
SERVER_MAX_DURATION_SINCE = (3, 20)

#: The longest test iperf3 runs (its MAX_TIME): it refuses a longer --server-max-duration.
IPERF3_MAX_SECONDS = 86400

#: A test whose client is gone (nothing received, nothing acknowledged, no
#: keepalive answered) this many seconds is ended by iperf3 itself.
DEAD_CLIENT_SECONDS = 30


#: Before 3.15 a server blocks for ever on a control connection that sends
#: nothing (not even the test's cookie), and every later client of that port
#: gets "the server is busy": one silent socket stops a port. Fixed in 3.15
#: ("Several bugs that could allow the iperf3 server to hang waiting for
#: input on the control connection", RELNOTES, esnet-secadv-2023-0002).
SILENT_HANG_FIXED_IN = (3, 15)
#: A connection that has sent nothing for this long is no test about to start:
#: a real client sends its 37-byte cookie at once.
SILENT_SECONDS = 8.0


def blocks_on_silent_connections(version: str | None) -> bool:
    """True for the versions the supervisor must rescue from a silent connection."""
    have = version_key(version)
    return bool(have) and have < SILENT_HANG_FIXED_IN


def survey_options(
    version: str | None,
    max_test_seconds: float | None = None,
    dead_client_seconds: int = DEAD_CLIENT_SECONDS,
    *,
    linux: bool | None = None,
) -> list[str]:
    """The options that keep a walking survey going, as far as *version* has them.

    On top of webperf3's own stuck detection (a test longer than
    *max_test_seconds* gets its server restarted), these let iperf3 end a
    test whose client walked out of range within *dead_client_seconds*, and
    refuse a test too long to finish before the stuck detection would strike.
    ``--snd-timeout`` and ``--cntl-ka`` exist only where iperf3 was built with
    TCP_USER_TIMEOUT and TCP_KEEPIDLE: Linux (*linux* defaults to this system).
    """
    have = version_key(version)
    linux = sys.platform.startswith("linux") if linux is None else linux
    dead_ms = str(max(1, dead_client_seconds) * 1000)
    options: list[str] = []
    if linux and have >= SND_TIMEOUT_SINCE:
        options += ["--snd-timeout", dead_ms]
    if linux and have >= CNTL_KA_SINCE:
        # iperf3 refuses an idle time not above interval x count.
        interval, count = max(1, dead_client_seconds // 6), 3
        idle = max(interval * count + 1, dead_client_seconds - interval * count)
        options.append(f"--cntl-ka={idle}/{interval}/{count}")
    if have >= RCV_TIMEOUT_SINCE:
        options += ["--rcv-timeout", dead_ms]
    if have >= SERVER_MAX_DURATION_SINCE and max_test_seconds and max_test_seconds > 0:
        # Room for connecting, omitted seconds' setup and the result exchange,
        # so a test the server accepts ends before it counts as stuck.
        limit = min(IPERF3_MAX_SECONDS, int(max_test_seconds - min(10.0, max_test_seconds / 2)))
        if limit >= 1:
            options += ["--server-max-duration", str(limit)]
    return options


def server_argv(iperf3: str, port: int, bind: str | None = None, options: Sequence[str] = ()) -> list[str]:
    """The exact command line of one server (stale ones are recognised by it)."""
    argv = [iperf3, "--server", "--json", "--port", str(port)]
    if bind:
        argv += ["-B", bind]
    return argv + list(options)


# What may follow "--port P" in a server_argv, each argument after a NUL as
# in /proc/PID/cmdline. iperf3 parses "--cntl-ka=16/5/3" by writing NULs over
# the slashes in its own argv: a running server shows "--cntl-ka=16", "5", "3".
_SERVER_TAIL = re.compile(
    r"(?:\0-B\0[^\0]+)?(?:\0--(?:snd-timeout|rcv-timeout|server-max-duration)\0\d+|\0--cntl-ka=\d+[/\0]\d+[/\0]\d+)*"
)


def is_server_argv(argv: Sequence[str], port: int) -> bool:
    """Whether *argv* (as /proc shows it) is one :func:`server_argv` could have
    made for *port*, with any iperf3 path and any of :func:`survey_options`."""
    if len(argv) < 5 or Path(argv[0]).name.removesuffix(".exe") != "iperf3":
        return False
    if list(argv[1:5]) != ["--server", "--json", "--port", str(port)]:
        return False
    return _SERVER_TAIL.fullmatch("".join("\0" + arg for arg in argv[5:])) is not None


def iperf3_version(path: str = "iperf3", timeout: float = 5.0) -> str:
    """The version of the iperf3 at *path* (or on PATH), e.g. ``"3.12"``."""
    # Looked up first rather than left to exec's error: where posix_spawn
    # cannot report it (qemu-user, seen with Python 3.13), a missing program
    # seems to start and exit 127 with no output.
    if shutil.which(path) is None:
        if os.sep in path and os.path.exists(path):
            raise Iperf3Error(f"cannot run {path}: not an executable file")
        raise Iperf3NotFound(path)
    try:
        done = subprocess.run(
            [path, "--version"], stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False
        )
    except (FileNotFoundError, NotADirectoryError):
        raise Iperf3NotFound(path) from None
    except subprocess.TimeoutExpired:
        raise Iperf3Error(f"{path} --version gave no answer within {timeout:g} s") from None
    except OSError as exc:
        raise Iperf3Error(f"cannot run {path}: {exc.strerror or exc}") from None
    output = done.stdout.decode(errors="replace")
    version = parse_version(output)
    if version is None:
        first = (output.strip() or done.stderr.decode(errors="replace").strip()).splitlines()[:1]
        raise Iperf3Error(f"{path} does not look like iperf3: {first[0] if first else 'no output'!r}")
    return version


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
    prctl.restype = ctypes.c_int
    return prctl


# Resolved once, in the parent: the child between fork and exec must not load
# libraries or import modules.
_PRCTL = _load_prctl()


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when its parent thread ends.

    preexec_fn runs between fork and exec, where a lock another thread held at
    fork time stays locked forever; Python documents it as unsafe with threads
    for that reason. This one takes no lock: one foreign call prepared in the
    parent, one system call, no import, no logging, no allocation beyond small
    ints. It is the only way to set PR_SET_PDEATHSIG on a child without an
    extra helper binary. The setting survives exec (iperf3 is not setuid).
    """
    if _PRCTL is None:
        return None
    prctl = _PRCTL
    parent = os.getpid()
    sigterm = int(signal.SIGTERM)

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, sigterm, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: no signal will come
            os._exit(1)

    return preexec


def platform_kwargs() -> dict[str, Any]:
    # Own process group: Ctrl-C in a terminal reaches webperf3 only, which then
    # stops the servers in order; otherwise they would die with SIGINT at once
    # and be counted as crashes. setsid/setpgid leaves PR_SET_PDEATHSIG alone.
    if os.name == "nt":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}  # type: ignore[attr-defined]
    return {"process_group": 0, "preexec_fn": _die_with_parent()}


def pidfd_open(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)  # type: ignore[attr-defined]  # Linux ≥ 5.3, Python ≥ 3.9
    except (AttributeError, OSError):
        return None


def send_signal(pid: int, pidfd: int | None, sig: signal.Signals) -> bool:
    """Signal a process; False when it is already gone."""
    try:
        if pidfd is not None:
            signal.pidfd_send_signal(pidfd, sig)  # type: ignore[attr-defined]
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True
