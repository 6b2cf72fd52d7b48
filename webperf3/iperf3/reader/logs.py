"""Read iperf3 server logs: concatenated pretty-printed JSON objects.

iperf3 appends one object per test, ``{`` and ``}`` in column 0, written in
several 4096-byte write() calls. Between objects there may be plain text
(``iperf3: exiting``), blank lines or, after a crash, a truncated object.

:class:`EntrySplitter` cuts a byte stream into candidate objects and junk,
with no I/O, fed in pieces of any size. :class:`LogReader` owns one file,
remembers how far it has read, and parses only what was appended since,
starting past what a verified index beside the log covers (:mod:`.index`).

Over 400 lines: the reader's recovery of damaged spans (``_parse_span``)
relies on exactly where the splitter cuts, so both stay in one file.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import re
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from ...store.record import Result
from ...text import printable
from . import index as log_index
from .entries import EntryError, Share, parse_entry_in

log = logging.getLogger("webperf3.iperf3.logs")

#: Past this size an object that never closes is given up on as junk. A
#: ten-second test with 128 streams is about 0.5 MB; this leaves ample room.
MAX_ENTRY_BYTES = 32 << 20
#: Reads are made in pieces of this size so memory stays bounded on big logs.
READ_CHUNK_BYTES = 4 << 20
#: A log's index is written again once this many bytes were appended past it
#: (no write per test), and an eighth of what it covers, and at most every
#: INDEX_MIN_SECONDS: each write encodes every test of the log and formats
#: their CSV figures, so a write every MiB took a whole core while a flood of
#: tests with 120 kB names grew a 50,000-test log by megabytes a second, and
#: /api/latest went past 5 s (benchmarks/hardening_bench.py, the name bomb).
#: A start parses at most an eighth of a log, or a minute of it, past its index.
INDEX_EVERY = 1 << 20
INDEX_GROWTH = 8
INDEX_MIN_SECONDS = 60.0
#: Plain-text lines iperf3 itself writes between objects: noise, not damage.
_IPERF3_TEXT = (b"iperf3: ", b"WARNING", b"warning", b"iperf3 ")
#: How iperf3 (cJSON) opens every object it writes, newline before included.
_OPENING = b'\n{\n\t"start":'
#: How every iperf3 object opens, whatever its indentation.
_START = re.compile(rb'\{\s*"start"\s*:\s*\{')
#: An object's opening line in any layout, the newline before included.
_NEXT_OPENING = re.compile(rb'\n\{\s*"start"\s*:')
#: Bytes kept from the end of what was read, to notice a rewritten file.
_FINGERPRINT = 64
#: Longer than the shortest opening iperf3 writes, `{\n\t"start":\t{`.
_TAIL = 64


def _as_is(text: str | None) -> str | None:
    return text


def _tentative_tail(buf: bytes, pos: int) -> int:
    """Where to stop consuming junk: a ``{`` near the end may open an object
    whose first bytes are all a read has seen so far."""
    brace = buf.rfind(b"{", max(pos, len(buf) - _TAIL))
    return brace if brace >= 0 else len(buf)


class Piece(NamedTuple):
    """A span of the stream: a candidate JSON object, or junk between them."""

    offset: int  # in the stream (file)
    buf: bytes  # the span is buf[start:stop]: no copy is made
    start: int
    stop: int
    is_object: bool

    @property
    def data(self) -> memoryview:
        return memoryview(self.buf)[self.start : self.stop]


class EntrySplitter:
    """Incrementally split bytes into top-level objects and junk.

    An object starts with ``{`` at the start of a line (or with iperf3's
    opening ``{ "start": {`` anywhere) and ends with the last line starting
    with ``}`` before the next object starts: one forward scan per object.
    An object with no closing line before the next one was cut short (the
    writer crashed) and is junk. An unfinished object is held back until the
    rest arrives: never reported half, never lost.
    """

    def __init__(self, offset: int = 0, max_entry: int = MAX_ENTRY_BYTES) -> None:
        self._buf = b""  # held back: an unfinished object
        self._base = offset  # stream offset of _buf[0]
        self._line_start = True  # whether _buf[0] begins a line
        self._max_entry = max_entry

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of an object."""
        return len(self._buf)

    @property
    def at_line_start(self) -> bool:
        """Whether what comes next begins a line, as for a new splitter."""
        return self._line_start

    def feed(self, data: bytes) -> Iterator[Piece]:
        buf = self._buf + data if self._buf else data
        base, n, pos = self._base, len(buf), 0
        opening = -2  # where the next _OPENING is: -1 none, -2 not looked yet
        while pos < n:
            start = self._next_start(buf, pos)
            if start < 0:
                keep = _tentative_tail(buf, pos)
                if keep == n:
                    # Junk is judged by whole lines ("WARNING: ..." cut by a
                    # read is noise, not damage): hold back a last line cut
                    # short. What is held starts a line, as _hold assumes.
                    nl = buf.rfind(b"\n", pos, n)
                    if nl >= 0 and n - (nl + 1) <= _TAIL:
                        keep = nl + 1
                if keep > pos:
                    yield Piece(base + pos, buf, pos, keep, False)
                if keep < n:  # maybe the start of an object cut by the read
                    self._hold(buf[keep:], base + keep)
                    return
                pos = n
                break
            if start > pos and not _blank(buf, pos, start):
                yield Piece(base + pos, buf, pos, start, False)
            # Bound the object by the next one's start. iperf3's usual opening
            # is a long needle, which bytes.find skips through; otherwise any
            # layout's opening line. Only an opening counts, never a bare "{"
            # line (damage): whether a read has reached a later opening yet
            # must not change where this object ends.
            if opening != -1 and opening <= start:
                opening = buf.find(_OPENING, start + 1)
            if opening >= 0:
                following = opening
            else:
                found = _NEXT_OPENING.search(buf, start + 1)
                following = found.start() if found else -1
            bound = following if following >= 0 else n
            close = buf.rfind(b"\n}", start, bound)
            if close >= 0:
                yield Piece(base + start, buf, start, close + 2, True)
                pos = close + 2
            elif following >= 0:  # cut short by a newer object
                yield Piece(base + start, buf, start, following + 1, False)
                pos = following + 1
            elif n - start > self._max_entry:
                log.warning("gave up on an object of over %d bytes at offset %d", n - start, base + start)
                yield Piece(base + start, buf, start, n, False)
                pos = n
            else:
                self._hold(buf[start:], base + start)
                return
        self._line_start = buf.endswith(b"\n") if n else self._line_start
        self._buf, self._base = b"", base + n

    def _next_start(self, buf: bytes, pos: int) -> int:
        """Where the next object starts: a ``{`` beginning a line, or iperf3's
        opening ``{ "start": {`` anywhere (after a crash the writer's next
        object follows the cut bytes with no newline between them)."""
        if buf[pos] == 0x7B and (buf[pos - 1] == 0x0A if pos else self._line_start):
            return pos
        k = buf.find(b"\n{", pos)
        marked = _START.search(buf, pos, k if k >= 0 else len(buf))
        if marked is not None:
            return marked.start()
        return k + 1 if k >= 0 else -1

    def _hold(self, rest: bytes, offset: int) -> None:
        # What is held begins with "{": the next feed treats it as a start.
        self._buf, self._base, self._line_start = rest, offset, True


def _blank(buf: bytes, start: int, stop: int) -> bool:
    # Between objects there is usually exactly one newline.
    return (stop - start == 1 and buf[start] == 0x0A) or not buf[start:stop].strip()


def is_noise(junk: bytes | memoryview) -> bool:
    """Whitespace and iperf3's own text lines are expected between objects."""
    text = bytes(junk).strip()
    return not text or all(line.startswith(_IPERF3_TEXT) for line in text.splitlines() if line.strip())


@dataclass(slots=True)
class ReadResult:
    """What one :meth:`LogReader.read` found."""

    results: list[Result] = field(default_factory=list)
    #: The file was truncated, replaced or deleted: earlier results are void.
    reset: bool = False
    skipped: int = 0  # entries that were not iperf3 tests (damage, not noise)


class NotRegular(OSError):
    """A ``port-P.json`` that is not a log: a FIFO, device, socket, directory,
    or a symlink out of the log directory."""


#: Never blocks (a FIFO with no writer would hold the reader, and with it
#: every web request and the push, forever) and never follows a last symlink.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def open_regular(path: Path):
    """*path* opened for reading if it is a regular file, or a symlink to one
    in the same directory; else :class:`NotRegular` naming what it is."""
    target = path
    if path.is_symlink():
        resolved = Path(os.path.realpath(path))
        if resolved.parent != Path(os.path.realpath(path.parent)):
            raise NotRegular(f"a symlink out of the log directory, to {printable(str(resolved))}: not followed")
        target = resolved
    mode = os.lstat(target).st_mode  # a socket cannot even be opened (ENXIO): say what it is
    if not stat.S_ISREG(mode):
        raise NotRegular(f"not a regular file but {file_kind(mode)}")
    try:
        fd = os.open(target, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # replaced by a symlink since the check
            raise NotRegular("a symlink that changed while opened: not followed") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegular(f"not a regular file but {file_kind(st.st_mode)}")
        os.set_blocking(fd, True)  # a regular file never blocks; reads are plain
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "something else"


class LogReader:
    """One ``port-P.json`` file, read incrementally."""

    def __init__(
        self, path: Path, port: int, chunk_size: int = READ_CHUNK_BYTES, share: Share | None = None,
        use_index: bool = False, keep_index: bool = False,
    ) -> None:
        self.path = path
        self.port = port
        self.chunk_size = chunk_size
        self.share = _as_is if share is None else share  # each text of a Result: the store keeps one copy of each
        self.skipped = 0  # over the reader's life, for metrics
        self._refused: str | None = None  # why the file is not read, as last said
        # The verified index beside the logs (:mod:`.index`): taken when it
        # holds for the log's bytes; kept up (a CRC of what was read) only
        # by a reader that writes it, the station's.
        self.use_index = use_index or keep_index
        self.keep_index = keep_index
        self._restart()

    def _restart(self) -> None:
        self._identity: tuple[int, int] | None = None
        self.offset = 0  # bytes of the file consumed
        self._tail = b""  # the last bytes consumed, to notice a rewritten file
        self._junk_end = -1
        self._splitter = EntrySplitter()
        self._crc = 0  # of the bytes consumed, when keep_index
        self.indexed = 0  # bytes the index on disk covers (0: none known)
        self._indexed_at = -math.inf  # when this reader last wrote it (monotonic)
        self._skips_since_start = 0  # damaged entries since the start of the file, for the index

    def read(self) -> ReadResult:
        """Parse what was appended since the last call."""
        out = ReadResult()
        try:
            # Every web request refreshes every log: an unchanged one costs
            # this stat and nothing more.
            st = os.stat(self.path)
            if (st.st_dev, st.st_ino) == self._identity and st.st_size == self.offset:
                return out
            f = open_regular(self.path)
        except FileNotFoundError:
            if self._identity is not None:
                self._restart()
                out.reset = True
            return out
        except (NotRegular, OSError) as exc:
            self._refuse(exc, out)
            return out
        if self._refused is not None:
            log.info("%s can be read again", self.path)
            self._refused = None
        with f:
            st = os.fstat(f.fileno())
            if self._identity is not None and not self._same_file(f, st):
                log.info("%s was truncated or replaced: reading it again", self.path)
                self._restart()
                out.reset = True
            if self._identity is None and self.use_index and st.st_size:
                self._from_index(f, st, out)
            self._identity = (st.st_dev, st.st_ino)
            if st.st_size == self.offset:
                return out
            f.seek(self.offset)
            while chunk := f.read(self.chunk_size):
                self._consume(chunk, out)
        return out

    def _refuse(self, exc: OSError, out: ReadResult) -> None:
        """Read nothing of a file that is not a log (or not readable), and say
        so once: every web request reads every log."""
        why = str(exc) if isinstance(exc, NotRegular) else f"cannot read it: {exc.strerror or exc}"
        if why != self._refused:
            log.warning("%s: %s (read nothing of it; said once)", self.path, why)
            self._refused = why
        if self._identity is not None:  # what it held is gone from the directory
            self._restart()
            out.reset = True

    def _same_file(self, f, st: os.stat_result) -> bool:
        if (st.st_dev, st.st_ino) != self._identity or st.st_size < self.offset:
            return False
        # Truncated and written again past our offset before we looked:
        # the bytes we last read are no longer where we read them.
        f.seek(self.offset - len(self._tail))
        return f.read(len(self._tail)) == self._tail

    def _consume(self, chunk: bytes, out: ReadResult) -> None:
        for piece in self._splitter.feed(chunk):
            if piece.is_object:
                self._parse(piece, out)
            elif not is_noise(piece.data):
                # Junk that spans reads arrives in pieces: count it once.
                if piece.offset != self._junk_end:
                    self._skip(out, piece.offset, "text that is not iperf3 JSON")
                self._junk_end = piece.offset + piece.stop - piece.start
        self.offset += len(chunk)
        self._tail = (self._tail + chunk[-_FINGERPRINT:])[-_FINGERPRINT:]
        if self.keep_index:
            self._crc = zlib.crc32(chunk, self._crc)

    # -- the index beside the log (:mod:`.index`) --------------------------------

    def _from_index(self, f, st: os.stat_result, out: ReadResult) -> None:
        """Start past the bytes a verified index covers, with its results."""
        index = log_index.load(self.path, f, st)
        if index is None:
            return
        if self.share is not _as_is:
            log_index.share_texts(index.results, self.share)
        out.results.extend(index.results)
        out.skipped += index.skipped
        self.skipped += index.skipped
        self._skips_since_start = index.skipped
        self.offset = self.indexed = index.size
        self._tail = index.tail
        self._crc = index.crc
        self._splitter = EntrySplitter(index.size)

    def index_due(self, now: float) -> bool:
        """Whether an index should be written at ``now`` (monotonic seconds):
        INDEX_EVERY bytes or more read past the last one, and an eighth of
        what it covers, none written for INDEX_MIN_SECONDS, and nothing held
        back (an index ends where a fresh reader could begin)."""
        return (self.keep_index and self._identity is not None
                and self.offset - self.indexed >= max(INDEX_EVERY, self.indexed // INDEX_GROWTH)
                and now - self._indexed_at >= INDEX_MIN_SECONDS
                and self._splitter.pending == 0 and self._splitter.at_line_start)

    def index_written(self, now: float) -> None:
        """The index of everything read so far was written at ``now``."""
        self.indexed, self._indexed_at = self.offset, now

    def index_of(self, results: list[Result]) -> log_index.IndexFile:
        """The index of everything read so far; ``results``: what was read
        from this log since it was last read from the start (the store's)."""
        assert self._identity is not None
        dev, ino = self._identity
        return log_index.IndexFile(
            key=log_index.KEY, dev=dev, ino=ino, size=self.offset, crc=self._crc,
            tail=self._tail, skipped=self._skips_since_start, results=results,
        )

    def _parse(self, piece: Piece, out: ReadResult) -> None:
        self._parse_span(piece.buf, piece.start, piece.stop, piece.offset - piece.start, out)

    def _parse_span(self, buf: bytes, start: int, stop: int, delta: int, out: ReadResult) -> None:
        """Parse ``buf[start:stop]``; on damage, save every object that can
        be saved. ``delta`` turns an index in ``buf`` into a file offset."""
        while True:
            try:
                result = parse_entry_in(buf, start, stop, self.port, start + delta, self.share)
            except EntryError as exc:
                # The text, not the exception: its traceback holds this frame
                # and so the whole read buffer, in a cycle only gc would free.
                error = str(exc)[:80]
            else:
                if result is not None:
                    out.results.append(result)
                return
            # A good object followed by junk: the junk holds a line starting
            # with "}" (so the span ran on), or another object glued on.
            first = buf.find(b"\n}", start, stop)
            if 0 <= first and first + 2 < stop:
                try:
                    result = parse_entry_in(buf, start, first + 2, self.port, start + delta, self.share)
                except EntryError:
                    pass
                else:
                    if result is not None:
                        out.results.append(result)
                    following = _START.search(buf, first + 2, stop)
                    junk_end = following.start() if following else stop
                    if not is_noise(buf[first + 2 : junk_end]):
                        self._skip(out, first + 2 + delta, "text that is not iperf3 JSON")
                    if following is None:
                        return
                    start = following.start()
                    continue
            # A crash cut an object short and the next was written straight after it.
            following = _START.search(buf, start + 1, stop)
            if following is None:
                self._skip(out, start + delta, f"an object that is not iperf3's ({error})")
                return
            self._skip(out, start + delta, "a truncated object")
            start = following.start()

    def _skip(self, out: ReadResult, offset: int, why: str) -> None:
        out.skipped += 1
        self.skipped += 1
        self._skips_since_start += 1
        # Logged once per file: a damaged log must not flood the journal.
        level = logging.WARNING if self.skipped == 1 else logging.DEBUG
        log.log(level, "%s: skipped %s at byte %d (further skips logged at debug level)", self.path, why, offset)
