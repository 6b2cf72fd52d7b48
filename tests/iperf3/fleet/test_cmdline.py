"""Reading a process's command line without qemu-user's loader in front.

The shapes are the ones earlier platform checks logged under qemu-user
(scripts/check-platform, /var/tmp/webperf3-check/logs/*/make-test.log), e.g.
``port 31696 in use by pid 20488 (/usr/libexec/qemu-binfmt/arm-binfmt-P
/usr/bin/iperf3 iperf3 --server --json --port 31696)``.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
from pathlib import Path

import pytest

from webperf3.iperf3.sockets import netstat
from webperf3.iperf3.fleet.cmdline import read_argv, without_emulator
from webperf3.iperf3.fleet.ports import describe_holder, is_stale_server
from webperf3.iperf3.fleet.process import PARENT_ENV, is_server_argv, server_argv

from tests.support.iperf3 import IPERF3
from tests.support.ports import free_ports
from tests.support.waiting import wait_until

SERVER = ["iperf3", "--server", "--json", "--port", "31696"]
BUILT = "/root/.cache/webperf3/iperf3/3.18/bin/iperf3"


@pytest.mark.parametrize(
    "seen, meant",
    [
        # Debian's qemu-user-binfmt wrappers (flag P): loader, full path, argv0, args.
        (["/usr/libexec/qemu-binfmt/arm-binfmt-P", "/usr/bin/iperf3", *SERVER], SERVER),
        (["/usr/libexec/qemu-binfmt/aarch64-binfmt-P", "/usr/bin/iperf3", *SERVER], SERVER),
        # argv0 a full path already (the version tests start built iperf3s so).
        (
            ["/usr/libexec/qemu-binfmt/arm-binfmt-P", BUILT, BUILT, "--server", "--json", "--port", "30417"],
            [BUILT, "--server", "--json", "--port", "30417"],
        ),
        # qemu-user-static registered with P: argv0 kept after the path.
        (["/usr/bin/qemu-arm-static", "/usr/bin/iperf3", *SERVER], SERVER),
        (["/usr/bin/qemu-aarch64-static", "/usr/bin/iperf3", *SERVER], SERVER),
        # ... and without P: argv0 replaced by the full path.
        (["/usr/bin/qemu-arm-static", "/usr/bin/iperf3", *SERVER[1:]], ["/usr/bin/iperf3", *SERVER[1:]]),
        (["/usr/bin/qemu-aarch64", "/usr/bin/iperf3", *SERVER[1:]], ["/usr/bin/iperf3", *SERVER[1:]]),
        # A program with no arguments at all.
        (["/usr/libexec/qemu-binfmt/arm-binfmt-P", "/usr/bin/iperf3", "iperf3"], ["iperf3"]),
    ],
)
def test_a_leading_qemu_loader_is_dropped(seen, meant):
    assert without_emulator(seen) == meant


@pytest.mark.parametrize(
    "argv",
    [
        None,  # the process is gone
        [],  # a zombie
        ["iperf3"],
        SERVER,
        ["/usr/bin/iperf3", "--server", "--json", "--port", "5201"],
        # qemu started by hand with its own options: the command line is qemu's.
        ["qemu-arm", "-L", "/usr/arm-linux-gnueabihf", "/usr/bin/iperf3", "-s"],
        ["/usr/bin/qemu-arm-static", "--version"],
        # Names that merely look alike are not loaders.
        ["/usr/local/bin/qemu-img", "convert", "a", "b"],  # relative path after it: not a loader shape
        ["python3", "/usr/bin/iperf3", "-s"],
        ["arm-binfmt-P.sh", "/usr/bin/iperf3", "iperf3"],
    ],
)
def test_a_command_line_without_a_loader_is_unchanged(argv):
    expected = None if argv is None else list(argv)
    assert without_emulator(argv) == expected


def test_an_emulated_orphan_of_ours_is_recognised_as_stale():
    seen = ["/usr/libexec/qemu-binfmt/arm-binfmt-P", "/usr/bin/iperf3", *server_argv("iperf3", 31696)]
    assert not is_server_argv(seen, 31696)  # read as is, it would be left holding the port
    assert is_stale_server(without_emulator(seen), 31696, {PARENT_ENV: "4242"}, 1)


def test_the_holder_message_names_the_program_not_the_emulator():
    seen = ["/usr/libexec/qemu-binfmt/arm-binfmt-P", "/usr/bin/iperf3", *SERVER]
    assert describe_holder(31696, 20488, without_emulator(seen)) == (
        "port 31696 in use by pid 20488 (iperf3 --server --json --port 31696)"
    )


def test_read_argv_reads_proc_files_as_the_kernel_writes_them(tmp_path):
    proc = tmp_path / "proc"
    (proc / "20488").mkdir(parents=True)
    (proc / "20488" / "cmdline").write_bytes(b"/usr/libexec/qemu-binfmt/arm-binfmt-P\0/usr/bin/iperf3\0" + b"\0".join(s.encode() for s in SERVER) + b"\0")
    (proc / "7").mkdir()
    (proc / "7" / "cmdline").write_bytes(b"")
    assert read_argv(20488, proc) == SERVER
    assert read_argv(7, proc) == []
    assert read_argv(8, proc) is None


def test_a_real_iperf3_reads_as_started():
    """On real hardware /proc shows exactly the argv and nothing is dropped;
    under qemu-user (scripts/check-platform's ARM roots) the loader is."""
    [port] = free_ports(1)
    argv = server_argv(IPERF3, port, "127.0.0.1")
    server = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: netstat.listener_pid(port) == server.pid, 5.0, what="iperf3 listening")
        seen = netstat.read_cmdline(server.pid)
        assert read_argv(server.pid) == argv
        if seen != argv:  # only an emulator's loader may stand in front
            assert seen is not None and seen[0] != argv[0] and seen[2:] == argv, seen
    finally:
        server.terminate()
        server.wait(5)


def _arm_pauser() -> bytes:
    """A 32-bit ARM ELF of 96 bytes that waits in pause() forever."""
    base, entry = 0x10000, 52 + 32
    code = struct.pack("<3I", 0xE3A0701D, 0xEF000000, 0xEAFFFFFC)  # mov r7, #29 (pause); svc 0; b back
    size = entry + len(code)
    ident = b"\x7fELF\x01\x01\x01\x00" + bytes(8)
    header = ident + struct.pack("<HHIIIIIHHHHHH", 2, 40, 1, base + entry, 52, 0, 0x05000400, 52, 32, 1, 40, 0, 0)
    segment = struct.pack("<8I", 1, 0, base, base, size, size, 5, 0x1000)
    return header + segment + code


def _qemu_arm_registered() -> str | None:
    for name in ("qemu-arm", "arm"):
        entry = Path("/proc/sys/fs/binfmt_misc") / name
        try:
            text = entry.read_text()
        except OSError:
            continue
        if text.startswith("enabled"):
            return text
    return None


@pytest.mark.skipif(os.uname().machine.startswith(("arm", "aarch64")), reason="an ARM machine runs ARM programs itself")
def test_a_real_emulated_program_reads_as_started(tmp_path):
    """A real ARM program run by this machine's qemu-user through binfmt_misc."""
    registration = _qemu_arm_registered()
    if registration is None:
        pytest.skip("qemu-user is not registered with binfmt_misc for ARM here (Debian: qemu-user-binfmt)")
    program = tmp_path / "pauser"
    program.write_bytes(_arm_pauser())
    program.chmod(0o755)
    argv = ["pauser", "--server", "--json", "--port", "31696"]
    child = subprocess.Popen(argv, executable=program, stdin=subprocess.DEVNULL)
    try:
        seen = wait_until(lambda: netstat.read_cmdline(child.pid), 5.0, what="its cmdline")
        interpreter = next(line.split()[1] for line in registration.splitlines() if line.startswith("interpreter"))
        assert seen[0] == interpreter  # the emulator stands first ...
        assert read_argv(child.pid) == argv  # ... and is dropped
        assert child.poll() is None
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(5)
