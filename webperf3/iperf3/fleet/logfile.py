"""The log file an iperf3 server writes its stdout into, as the fleet holds it.

iperf3 never reopens its stdout. When ``port-P.json`` is deleted, renamed or
replaced (or its whole directory), iperf3 goes on appending to a file nobody
can see, and every later test is lost. So the fleet keeps its own
descriptor of the file it gave iperf3 (:class:`ServerLog`), compares the
path's ``(st_dev, st_ino)`` with it every second (:meth:`ServerLog.displaced`),
and when they differ restarts the server onto a new file, first copying
into the new file whatever iperf3 wrote to the old one since it was last
seen in place (:meth:`ServerLog.salvage`): no test is lost, not even one
that was running at that moment.

The file is opened with ``O_NOFOLLOW``: a ``port-P.json`` that is a symlink
would have iperf3 append to whatever it points at, anywhere. And
``O_NONBLOCK``: opening a FIFO for writing blocks until someone reads it.

:func:`disk_problem` tells whether the disk under the logs has room for a
test's entry: iperf3 (3.12, 3.18, 3.21 alike) loses the entry of a test that
ends on a full disk without a word, keeps running, and writes the next
entry straight after the cut one once space returns.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..reader.logs import NotRegular, file_kind

#: Free space under which a test's entry may not fit: a 10 s test writes
#: about 3-8 kB, a 300 s one with 8 streams a few hundred kB.
LOW_SPACE_BYTES = 256 << 10
_WRITE_FLAGS = (
    os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_COPY_CHUNK = 1 << 20


@dataclass(slots=True)
class ServerLog:
    """One server's log file, held open by the fleet for as long as iperf3 writes it."""

    path: Path
    fd: int  # read-write, append: given to iperf3 as its stdout, and read back here
    identity: tuple[int, int]
    #: The file's size when it was last seen at ``path``: what iperf3 wrote
    #: beyond this may be in no file anyone can see.
    seen_size: int

    @classmethod
    def open(cls, path: Path) -> ServerLog:
        """Open (create) *path* for appending; :class:`NotRegular` if it is a
        symlink, FIFO, device, socket or directory."""
        try:
            fd = os.open(path, _WRITE_FLAGS, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise NotRegular(f"{path} is a symlink: iperf3 would append to whatever it points at; remove it") from None
            if exc.errno in (errno.ENXIO, errno.EISDIR):  # a socket; a directory
                kind = file_kind(os.lstat(path).st_mode)
                raise NotRegular(f"{path} is not a regular file but {kind}: remove it") from None
            raise
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise NotRegular(f"{path} is not a regular file but {file_kind(st.st_mode)}: remove it")
        os.set_blocking(fd, True)
        return cls(path, fd, (st.st_dev, st.st_ino), st.st_size)

    def displaced(self) -> str | None:
        """None while the path is still the file iperf3 writes; else what happened."""
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return "its log directory was deleted" if not self.path.parent.exists() else "its log file was deleted or renamed"
        except OSError as exc:
            return f"its log file cannot be checked: {exc.strerror or exc}"
        if (st.st_dev, st.st_ino) != self.identity:
            return "its log file was replaced"
        self.seen_size = os.fstat(self.fd).st_size
        return None

    def salvage(self) -> int:
        """Append to a new file at ``path`` what iperf3 wrote to this one
        since it was last seen in place; the bytes copied."""
        end = os.fstat(self.fd).st_size
        if end <= self.seen_size:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        target = ServerLog.open(self.path)
        copied = 0
        try:
            # What was written before, if anything, ends with a newline: the
            # reader takes an object opening a line (or iperf3's opening) anyway.
            while copied < end - self.seen_size:
                chunk = os.pread(self.fd, min(_COPY_CHUNK, end - self.seen_size - copied), self.seen_size + copied)
                if not chunk:
                    break
                os.write(target.fd, chunk)
                copied += len(chunk)
        finally:
            target.close()
        self.seen_size = end
        return copied

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def free_bytes(directory: Path) -> int | None:
    """Bytes a non-root writer may still use under *directory*; None if unknown."""
    try:
        st = os.statvfs(directory)
    except (OSError, AttributeError):
        return None
    return st.f_bavail * st.f_frsize


def disk_problem(directory: Path, need: int = LOW_SPACE_BYTES) -> str | None:
    """Why tests may be lost for lack of space under *directory*, or None."""
    free = free_bytes(directory)
    if free is None or free >= need:
        return None
    return f"the disk holding {directory} is full ({free // 1024} kB free): tests are being lost"
