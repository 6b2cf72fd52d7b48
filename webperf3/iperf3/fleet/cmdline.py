"""A process's own command line, as it ran it: /proc/PID/cmdline without an
emulator's loader in front.

Under qemu-user (an ARM root on an x86-64 machine, binfmt_misc), the kernel
starts the registered loader in place of the program, so /proc shows the
loader first: Debian's qemu-user-binfmt registers wrappers with the P flag
(``/usr/libexec/qemu-binfmt/arm-binfmt-P``), which keep the program's argv[0]
after its full path; qemu-user-static's ``/usr/bin/qemu-arm-static`` does so
only when registered with P. Read as is, our own iperf3 servers would not be
recognised (stale servers kept, the "port held by" message naming qemu). On
real hardware no loader stands there and nothing is dropped.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..sockets import netstat

# The binfmt_misc loaders qemu-user installs: "qemu-arm-static",
# "qemu-aarch64", "arm-binfmt-P", "aarch64-binfmt-P", …
_QEMU_STATIC = re.compile(r"qemu-[a-z0-9_]+?(?:-static)?")
_QEMU_BINFMT_P = re.compile(r"[a-z0-9_]+-binfmt-P")


def without_emulator(argv: list[str] | None) -> list[str] | None:
    """*argv* as the program was started, dropping a leading qemu-user loader.

    binfmt_misc gives the loader ``[loader, /full/path, argv0, args…]`` with
    the P flag (argv0 preserved) and ``[loader, /full/path, args…]`` without;
    a ``*-binfmt-P`` wrapper always has P. For ``qemu-*-static`` the flag
    does not show, so argv0 counts as preserved when it names the same
    program as the path. A loader given options (``qemu-arm -L /usr/arm…``)
    was started by hand, not by the kernel: left as it is.
    """
    if not argv or len(argv) < 2:
        return argv
    loader = Path(argv[0]).name
    path = argv[1]
    if not path.startswith("/"):  # the kernel always passes the program's full path
        return argv
    if _QEMU_BINFMT_P.fullmatch(loader):
        return argv[2:] if len(argv) > 2 else [path]
    if _QEMU_STATIC.fullmatch(loader):
        if len(argv) > 2 and Path(argv[2]).name == Path(path).name:
            return argv[2:]
        return argv[1:]
    return argv


def read_argv(pid: int, proc: Path = netstat.PROC) -> list[str] | None:
    """The argv *pid* was started with (None when gone or hidden), as
    :func:`netstat.read_cmdline` reads it but without an emulator's loader."""
    return without_emulator(netstat.read_cmdline(pid, proc))
