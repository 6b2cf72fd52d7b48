"""Giving memory back to the system after a large piece of work.

Python hands objects over 512 bytes, and everything zlib and XlsxWriter
allocate, to the C allocator, and glibc's keeps an arena per thread that
has used one. What a large piece of work frees stays with its thread's
arena: an Excel workbook of 100,000 tests left 5.2 MiB behind in each
server thread that made one (21 MiB after four downloads, never given
back), where the station otherwise holds about 120 MiB. glibc's
``malloc_trim`` returns the free pages of every arena (measured: the same
builds then left nothing). Elsewhere (another C library) this does
nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # no C library by that name, or not glibc
        return None


_TRIM = _malloc_trim()


def give_back_freed_memory() -> bool:
    """Return the C allocator's free pages to the system (after a large
    piece of work, never in a loop: it walks every arena); whether it could."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
