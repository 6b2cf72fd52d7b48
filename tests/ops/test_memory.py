"""Giving the C allocator's free pages back to the system, and keeping its
arenas to two."""

from __future__ import annotations

import platform
import subprocess
import sys
import threading

import pytest

from tests.support.paths import ROOT
from webperf3.ops.memory import give_back_freed_memory


def test_freed_memory_is_given_back_where_the_c_library_is_glibc():
    # After a workbook made in a server thread (and the start-up warm-up):
    # glibc keeps what each thread freed unless asked.
    def work() -> None:
        kept = [bytes(1000) for _ in range(20_000)]
        del kept[::2]

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert give_back_freed_memory() is (platform.libc_ver()[0] == "glibc")


ARENAS_USED = """
import ctypes, sys, threading
from webperf3.ops.memory import tune_allocator
if sys.argv[1] == "tuned":
    assert tune_allocator()
barrier = threading.Barrier(6)
def work():
    held = [bytes(2000 + i) for i in range(200)]  # past pymalloc: the C allocator's
    barrier.wait()  # all at once, so each thread wants an arena of its own
threads = [threading.Thread(target=work) for _ in range(6)]
[t.start() for t in threads]
[t.join() for t in threads]
ctypes.CDLL("libc.so.6").malloc_stats()  # one "Arena N:" block each, on stderr
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="arenas are glibc's")
def test_the_station_s_threads_share_two_arenas_of_the_c_allocator() -> None:
    def arenas(how: str) -> int:
        done = subprocess.run([sys.executable, "-c", ARENAS_USED, how], capture_output=True, text=True, cwd=ROOT, check=True)
        return done.stderr.count("Arena ")

    assert arenas("tuned") <= 2
    assert arenas("as glibc starts") > 2  # what the cap spares: one per thread that allocated



PUSHES_FREED = """
import sys
from webperf3.ops.memory import tune_allocator
if sys.argv[1] == "tuned":
    assert tune_allocator()
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
before = rss()
# Messages of 20 kB for many clients, with small objects made between them
# that stay (a client's state): then the messages are sent and freed.
messages, kept = [], []
for i in range(3000):
    messages.append(bytearray(20_000))
    kept.append(bytearray(600))
grown = rss() - before
del messages
print((rss() - before) / grown)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the tuning is glibc's")
def test_what_a_burst_of_pushed_messages_freed_goes_back_to_the_system_at_once() -> None:
    def left(how: str) -> float:
        """What the process still holds of the burst, as a fraction."""
        done = subprocess.run([sys.executable, "-c", PUSHES_FREED, how], capture_output=True, text=True, cwd=ROOT, check=True)
        return float(done.stdout)

    # Tuned, a message still comes from the heap's top while the heap has
    # room there (its 128 KiB pad after each small block's growth): 27 % is
    # left, measured. Untuned, all of it: the heap cannot shrink past the
    # small blocks between the messages.
    assert left("tuned") < 0.5
    assert left("as glibc starts") > 0.9
