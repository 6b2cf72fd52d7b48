"""A verified index of already-parsed tests, kept beside the logs.

Decoding 100 MB of iperf3 JSON costs most of a second; reading the same
bytes back costs a twentieth of that. So the station keeps, per log,
``<log-dir>/.webperf3-index/port-P.idx``: the Results parsed from the log's
first K bytes (msgspec msgpack), keyed by the log's identity (device, inode),
K, and a CRC-32 of those K bytes. A reader that finds one takes its Results
only if every key still holds for the log as it is now, the CRC computed
afresh over the log's own bytes, and parses only what lies past K.

Never trusted over the logs: a log truncated below K, replaced (another
inode, or the same inode rewritten: its bytes no longer match the CRC),
an index that does not decode, was written by other parsing code (another
webperf3, or this one's reader edited) or names a test outside its K bytes,
is ignored and the log read whole (a
line in the journal at most). The index is a cache, rebuilt on any doubt.

Each index also keeps its tests' CSV figures (Timestamp to Error, as
:func:`webperf3.exports.results.figure_lines` formats them), so that
``webperf3 export`` copies them instead of formatting 21,000 tests' floats
and local times again. Taken only by the code that made them (a digest of
that code), and only where local time is as it was: each UTC hour among the
tests is kept with the UTC offset its lines were formatted with, and an
export whose zone gives any hour another offset (another TZ, new zone rules)
formats every line itself. An hour in which the clocks change keeps no line.

Written only by the station (an export reads it, never writes), atomically
(a temporary file renamed over the old), never in a directory that cannot
be written: a read-only log directory costs one failed attempt per store.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import logging
import operator
import os
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import msgspec

from ... import __version__
from ...store.record import Result

log = logging.getLogger("webperf3.iperf3.index")

#: The directory beside the logs; hidden, so nobody takes it for a log.
INDEX_DIR = ".webperf3-index"
#: Bumped when what an index holds changes. 2: the CSV figures. 3: long
#: names once per index (LONG_TEXT).
FORMAT = 3
#: A name longer than this (a client's --extra-data: any length, and a flood
#: of tests may all send the same 120 kB) is kept once per index, not in each
#: test, and its tests' CSV lines are left to the export: each test holding
#: it made an index of 4,000 such tests 1 GB to encode.
LONG_TEXT = 1024
#: The code that turns a log's bytes into Results: an index is taken only by
#: the very code that wrote it, so a change in how a log is parsed (a fix, a
#: new field) never leaves tests shown as an older webperf3 parsed them.
_PARSERS = ("iperf3/reader/logs.py", "iperf3/reader/entries.py", "iperf3/reader/errors.py", "store/record.py", "text.py")


#: The code that formats a test's CSV figures (and keeps them here).
_FORMATTERS = ("exports/results.py", "iperf3/reader/index.py")


def _long_name(result: Result) -> bool:
    """Whether ``result``'s name is one kept once per index (LONG_TEXT)."""
    return result.name is not None and len(result.name) > LONG_TEXT


def _parser_digest(names: tuple[str, ...] = _PARSERS) -> str:
    digest = hashlib.blake2b(digest_size=12)
    root = Path(__file__).resolve().parents[2]
    for name in names:
        try:
            digest.update((root / name).read_bytes())
        except OSError:  # not installed as files: the version alone
            return "?"
    return digest.hexdigest()


KEY = f"{FORMAT}/{__version__}/{_parser_digest()}/{','.join(Result.__struct_fields__)}"
#: Read into one buffer, reused: a new 1 MiB bytes per read cost a quarter
#: more (its pages faulted in afresh each time), the same bytes summed.
_CRC_CHUNK = 1 << 18


@functools.cache
def figures_key() -> str:
    """What kept CSV figures depend on besides local time: the code that
    formats them, and the Python whose ``repr`` wrote their floats."""
    return f"{KEY}/{sys.version_info[0]}.{sys.version_info[1]}/{_parser_digest(_FORMATTERS)}"


class Figures(msgspec.Struct, array_like=True):
    """The CSV figures of an index's results, one line each (``figure_lines``)."""

    key: str  # figures_key() of the webperf3 that formatted them
    hours: list[tuple[int, int]]  # each UTC hour of the results → the UTC offset its lines were formatted with
    lines: list[str | None]  # one per result; None in an hour the clocks changed (formatted by the export)


_NIL = msgspec.Raw(b"\xc0")  # msgpack's nil: no figures kept


class IndexFile(msgspec.Struct, array_like=True):
    """What one index file holds."""

    key: str  # KEY of the webperf3 that wrote it
    dev: int
    ino: int
    size: int  # K: the log's bytes the results were parsed from
    crc: int  # zlib.crc32 of those K bytes
    tail: bytes  # their last bytes (the reader's fingerprint of a rewritten log)
    skipped: int  # damaged entries among them
    results: list[Result]
    # Figures, left undecoded: only an export of CSV reads them.
    figures: msgspec.Raw = _NIL
    # Names over LONG_TEXT, each once; (position in results, which text) for
    # each result that had one (stored there without its name).
    texts: list[str] = []
    long_names: list[tuple[int, int]] = []


_offset = operator.attrgetter("offset")
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(IndexFile)
_figures_decoder = msgspec.msgpack.Decoder(Figures)


class KeptFigures(dict[int, str]):
    """``id(result)`` → its kept CSV line. It holds the results themselves
    too: an id is an address, and a result freed (a log read anew) could
    leave its address to another, which would get its line."""

    def __init__(self) -> None:
        super().__init__()
        self.results: list[list[Result]] = []


#: Where load() puts the kept figures of the indexes it takes, while an
#: export asks for them (kept_figures); None otherwise: the station never
#: decodes them, nor holds 2.5 MB of lines per 100 MB of logs.
_wanted: KeptFigures | None = None


@contextlib.contextmanager
def kept_figures() -> Iterator[KeptFigures]:
    """While open, each index taken (:func:`load`) adds its results' kept
    CSV figures that hold for local time as it is now: ``id(result)`` → the
    line, for ``CsvFigures(known=...)``. One caller at a time (the export
    command)."""
    global _wanted
    wanted = KeptFigures()
    _wanted = wanted
    try:
        yield wanted
    finally:
        _wanted = None


def figures_of(results: Sequence[Result]) -> Figures:
    """The CSV figures of ``results`` as this process formats them now."""
    from ...exports.results import figure_lines, offset_of_hour

    offsets: dict[int, int | None] = {}
    for r in results:  # as figure_lines finds a test's hour
        hour = int(r.time) // 3600
        if hour not in offsets:
            offsets[hour] = offset_of_hour(hour)
    if not any(_long_name(r) for r in results):
        lines: list[str | None] = list(figure_lines(results))
    else:  # a long name's lines are the export's to format (LONG_TEXT)
        short = iter(figure_lines([r for r in results if not _long_name(r)]))
        lines = [None if _long_name(r) else next(short) for r in results]
    if None in offsets.values():
        lines = [None if offsets[int(r.time) // 3600] is None else line for r, line in zip(results, lines)]
    return Figures(key=figures_key(), hours=[(h, o) for h, o in offsets.items() if o is not None], lines=lines)


def _take_figures(path: Path, index: IndexFile, into: KeptFigures) -> None:
    """Add ``index``'s kept figures to ``into`` if they hold as they are now."""
    if index.figures == _NIL:
        return
    from ...exports.results import offset_of_hour

    why = None
    try:
        figures = _figures_decoder.decode(index.figures)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        why = f"do not decode ({str(exc)[:60]})"
    else:
        if figures.key != figures_key():
            why = "were formatted by other code"
        elif len(figures.lines) != len(index.results):
            why = "are not one per test"
        else:
            try:
                if any(offset_of_hour(hour) != offset for hour, offset in figures.hours):
                    why = "were formatted in another time zone"
            except (OverflowError, OSError, ValueError):  # an hour this platform's time cannot place
                why = "hold a time this system cannot convert"
    if why is not None:
        log.info("%s: its CSV figures %s: formatting them", path, why)
        return
    into.results.append(index.results)
    if None in figures.lines:
        into.update((id(r), line) for r, line in zip(index.results, figures.lines) if line is not None)
    else:  # nearly always: no hour the clocks changed; a fifth of the loop's time
        into.update(zip(map(id, index.results), figures.lines))


def index_path(log_path: Path) -> Path:
    return log_path.parent / INDEX_DIR / (log_path.stem + ".idx")


def crc_of(f: BinaryIO, size: int) -> int | None:
    """The CRC-32 of ``f``'s first ``size`` bytes, or None if it holds fewer."""
    f.seek(0)
    buffer = bytearray(min(_CRC_CHUNK, size))
    view = memoryview(buffer)
    crc, left = 0, size
    while left:
        got = f.readinto(view[: min(len(buffer), left)])
        if not got:
            return None
        crc = zlib.crc32(view[:got], crc)
        left -= got
    return crc


def load(log_path: Path, f: BinaryIO, st: os.stat_result) -> IndexFile | None:
    """The index of the log open as ``f`` (``st`` its fstat), if it holds
    in every respect for the log's bytes as they are now; else None."""
    path = index_path(log_path)
    try:
        data = path.read_bytes()
    except OSError:
        return None  # none yet (or unreadable): the log is read whole
    why = None
    try:
        index = _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        why = f"does not decode ({str(exc)[:60]})"
    else:
        if index.key != KEY:
            why = "was written by other parsing code (another webperf3)"
        elif (index.dev, index.ino) != (st.st_dev, st.st_ino):
            why = "is of another file (the log was replaced)"
        elif index.size > st.st_size:
            why = "covers more than the log holds (it was truncated)"
        elif index.results and not (0 <= min(map(_offset, index.results)) and max(map(_offset, index.results)) < index.size):
            why = "names tests outside the bytes it covers"
        elif not all(0 <= at < len(index.results) and 0 <= text < len(index.texts) for at, text in index.long_names):
            why = "names a text it does not hold"
        elif crc_of(f, index.size) != index.crc or not _ends_with(f, index.size, index.tail):
            why = "does not match the log's bytes (it was rewritten)"
    if why is not None:
        log.info("%s %s: reading the log whole", path, why)
        return None
    force = msgspec.structs.force_setattr
    for at, text in index.long_names:
        force(index.results[at], "name", index.texts[text])
    if _wanted is not None:
        _take_figures(path, index, _wanted)
    return index


def share_texts(results: list[Result], share: Callable[[str | None], str | None]) -> None:
    """One copy of each text among results decoded from an index, as parsed
    results have (the store keeps 100,000 tests: the same address in each
    would cost megabytes). A dict first: most texts repeat, and a lookup
    costs less than a call of ``share``."""
    force = msgspec.structs.force_setattr
    memo: dict[str, str | None] = {}
    for result in results:
        # Unrolled: a loop over the names with getattr costs twice as much.
        if (text := result.client) is not None:
            force(result, "client", memo[text] if text in memo else memo.setdefault(text, share(text)))
        if (text := result.name) is not None:
            force(result, "name", memo[text] if text in memo else memo.setdefault(text, share(text)))
        if (text := result.protocol) is not None:
            force(result, "protocol", memo[text] if text in memo else memo.setdefault(text, share(text)))
        if (text := result.error) is not None:
            force(result, "error", memo[text] if text in memo else memo.setdefault(text, share(text)))


def _ends_with(f: BinaryIO, size: int, tail: bytes) -> bool:
    f.seek(size - len(tail))
    return f.read(len(tail)) == tail


class Saver:
    """Writes indexes for one log directory, until the directory says no."""

    def __init__(self) -> None:
        self.refused: str | None = None  # why writing stopped, once said
        self.failed = 0  # writes that failed otherwise (a full disk)

    def save(self, log_path: Path, index: IndexFile) -> bool:
        if self.refused is not None:
            return False
        path = index_path(log_path)
        tmp = None
        try:
            path.parent.mkdir(exist_ok=True)
            mode = os.stat(log_path).st_mode & 0o666
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
            # Readable by whoever can read the log (mkstemp's 0600 would
            # leave an export run by another user parsing the whole log).
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as out:
                out.write(_encoder.encode(_long_names_once(_with_figures(index))))
            os.replace(tmp, path)
            return True
        except OSError as exc:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
            if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                # A read-only log directory: stop trying, say so once.
                self.refused = exc.strerror or str(exc)
                log.info("not keeping an index beside the logs in %s: %s", log_path.parent, self.refused)
            else:
                # A full disk, say: tried again a MiB of logs later, said once
                # (the logs themselves are what matters, and they are read).
                level = logging.DEBUG if self.failed else logging.WARNING
                self.failed += 1
                log.log(level, "cannot write %s: %s (the logs are read whole until it can be)", path, exc.strerror or exc)
            return False


def _long_names_once(index: IndexFile) -> IndexFile:
    """``index`` with each name over LONG_TEXT kept once, in ``texts``."""
    texts: dict[str, int] = {}
    long_names: list[tuple[int, int]] = []
    results = index.results
    for at, r in enumerate(results):
        if _long_name(r):
            if not long_names:
                results = list(results)  # the store's own list is left as it is
            long_names.append((at, texts.setdefault(r.name, len(texts))))
            results[at] = msgspec.structs.replace(r, name=None)
    if not long_names:
        return index
    return msgspec.structs.replace(index, results=results, texts=list(texts), long_names=long_names)


def _with_figures(index: IndexFile) -> IndexFile:
    """``index`` with its results' CSV figures, or as it is if they cannot
    be formatted (the index is still worth keeping: an export formats them)."""
    try:
        figures = figures_of(index.results)
    except Exception:  # a bug in formatting must not cost the station its index
        log.exception("cannot keep the CSV figures of %d tests in the index", len(index.results))
        return index
    return msgspec.structs.replace(index, figures=msgspec.Raw(_encoder.encode(figures)))
