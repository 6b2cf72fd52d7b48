"""Giving the C allocator's free pages back to the system."""

from __future__ import annotations

import platform
import threading

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
