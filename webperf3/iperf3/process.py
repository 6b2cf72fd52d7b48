"""One iperf3 server process: its command line, its version, starting and signalling it.

Pure functions and thin system calls, apart from the fleet that supervises
the processes (:mod:`.servers`).
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
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


def server_argv(iperf3: str, port: int, bind: str | None = None) -> list[str]:
    """The exact command line of one server (stale ones are recognised by it)."""
    argv = [iperf3, "--server", "--json", "--port", str(port)]
    return argv + ["-B", bind] if bind else argv


def iperf3_version(path: str = "iperf3", timeout: float = 5.0) -> str:
    """The version of the iperf3 at *path* (or on PATH), e.g. ``"3.12"``."""
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
