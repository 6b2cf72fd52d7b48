"""Giving memory back to the system after a large piece of work.

Python hands objects over 512 bytes, and everything zlib and XlsxWriter
allocate, to the C allocator, and glibc's keeps an arena per thread that
has used one. What a large piece of work frees stays with its thread's
arena: an Excel workbook of 100,000 tests left 5.2 MiB behind in each
server thread that made one (21 MiB after four downloads, never given
back), where the station otherwise holds about 120 MiB. glibc's
``malloc_trim`` returns the free pages of every arena (measured: the same
builds then left nothing).

At start the station also tunes glibc's allocator (:func:`tune_allocator`)
for a burst of pushes to many pages, where each message (tens of kB) is
encoded, copied into each client's buffer and freed, hundreds of times a
second: blocks of 16 KiB and more are mapped and unmapped on their own, so
what they free goes back at once instead of staying in the heap between
smaller blocks (8.5 MiB at the peak of a hostile burst, measured), and two
arenas serve every thread (glibc allows 8 a core, each keeping what its
thread freed apart). Elsewhere (another C library) these do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable


#: glibc's mallopt() parameters (malloc.h): the most arenas it makes, and
#: the size from which a block gets a mapping of its own.
M_ARENA_MAX = -8
M_MMAP_THRESHOLD = -3
#: The station's values: the main thread's arena and one for every other;
#: a block as big as a pushed message or more mapped on its own.
ARENAS = 2
MMAP_THRESHOLD = 16 * 1024


def _libc_function(name: str) -> Callable[..., int] | None:
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):  # no C library by that name, or not glibc
        return None


_TRIM = _libc_function("malloc_trim")
_MALLOPT = _libc_function("mallopt")


def tune_allocator(arenas: int = ARENAS, mmap_threshold: int = MMAP_THRESHOLD) -> bool:
    """Cap the C allocator's arenas at ``arenas`` and map blocks of
    ``mmap_threshold`` bytes or more on their own (before threads start:
    arenas already made stay); whether it could."""
    if _MALLOPT is None:
        return False
    return _MALLOPT(M_ARENA_MAX, arenas) == 1 and _MALLOPT(M_MMAP_THRESHOLD, mmap_threshold) == 1


def give_back_freed_memory() -> bool:
    """Return the C allocator's free pages to the system (after a large
    piece of work, never in a loop: it walks every arena); whether it could."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
