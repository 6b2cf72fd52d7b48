"""Linux's inotify on one directory, read from an asyncio loop: no timer.

watchfiles (used elsewhere, and where this is not available) sleeps and
wakes every ``step`` milliseconds to look for changes, whether or not
anything changed: 50 wakeups a second at the 20 ms step the live push's
latency asks for. An inotify descriptor in the event loop (``add_reader``)
wakes the station only when a file changes. The few calls (``inotify_init1``,
``inotify_add_watch``) go through ctypes to the C library; the events are
read with ``os.read`` and parsed with :mod:`struct`.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = getattr(os, "O_CLOEXEC", 0o2000000)

#: What changes a log's content or which file its name means.
FILE_EVENTS = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
#: The watched directory itself went away (deleted, renamed, unmounted).
GONE = IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED
_HEADER = struct.Struct("iIII")


def _load() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.inotify_init1.argtypes = (ctypes.c_int,)
        libc.inotify_add_watch.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32)
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _load()


def available() -> bool:
    return _LIBC is not None


@dataclass(frozen=True, slots=True)
class Batch:
    """What one read of the descriptor found."""

    names: frozenset[str]  # files of the directory that changed
    overflow: bool  # the kernel dropped events: look at everything
    gone: bool  # the directory itself went away


class DirectoryWatch:
    """An inotify watch on *directory* (not recursive). ``fileno()`` for
    ``loop.add_reader``; :meth:`read` when it is readable."""

    def __init__(self, directory: Path, mask: int = FILE_EVENTS | IN_DELETE_SELF | IN_MOVE_SELF) -> None:
        if _LIBC is None:
            raise OSError("inotify is not available here")
        fd = _LIBC.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify_init1: {os.strerror(err)}")
        self._fd = fd
        self._name = directory.name
        self._wd = self._add(directory, mask | IN_ONLYDIR)
        if self._wd < 0:
            err = ctypes.get_errno()
            os.close(fd)
            self._fd = -1
            raise OSError(err, f"inotify_add_watch {directory}: {os.strerror(err)}")
        # The directory's own removal is reported on it only once nothing
        # holds it (an open file of the survey book may); its parent reports
        # the name going at once. Optional: the parent may not be readable.
        self._parent_wd = self._add(directory.resolve().parent, IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_ONLYDIR)

    def _add(self, path: Path, mask: int) -> int:
        assert _LIBC is not None
        return _LIBC.inotify_add_watch(self._fd, os.fsencode(path), mask)

    def fileno(self) -> int:
        return self._fd

    def read(self) -> Batch | None:
        """Every event waiting, as one batch; None when none was waiting."""
        names: set[str] = set()
        overflow = gone = False
        got = False
        while True:
            try:
                data = os.read(self._fd, 64 << 10)
            except BlockingIOError:
                break
            if not data:
                break
            got = True
            offset = 0
            while offset + _HEADER.size <= len(data):
                wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
                offset += _HEADER.size
                name = os.fsdecode(data[offset:offset + length].rstrip(b"\0"))
                offset += length
                if mask & IN_Q_OVERFLOW:
                    overflow = True
                elif wd == self._parent_wd and wd != self._wd:
                    gone = gone or name == self._name  # the directory's name now means another, or none
                elif mask & GONE:
                    gone = True
                elif name:
                    names.add(name)
        return Batch(frozenset(names), overflow, gone) if got else None

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> DirectoryWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

