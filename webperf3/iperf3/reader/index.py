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

Written only by the station (an export reads it, never writes), atomically
(a temporary file renamed over the old), never in a directory that cannot
be written: a read-only log directory costs one failed attempt per store.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import msgspec

from ... import __version__
from ...store.record import Result

log = logging.getLogger("webperf3.iperf3.index")

#: The directory beside the logs; hidden, so nobody takes it for a log.
INDEX_DIR = ".webperf3-index"
#: Bumped when what an index holds changes.
FORMAT = 1
#: The code that turns a log's bytes into Results: an index is taken only by
#: the very code that wrote it, so a change in how a log is parsed (a fix, a
#: new field) never leaves tests shown as an older webperf3 parsed them.
_PARSERS = ("iperf3/reader/logs.py", "iperf3/reader/entries.py", "iperf3/reader/errors.py", "store/record.py", "text.py")


def _parser_digest() -> str:
    digest = hashlib.blake2b(digest_size=12)
    root = Path(__file__).resolve().parents[2]
    for name in _PARSERS:
        try:
            digest.update((root / name).read_bytes())
        except OSError:  # not installed as files: the version alone
            return "?"
    return digest.hexdigest()


KEY = f"{FORMAT}/{__version__}/{_parser_digest()}/{','.join(Result.__struct_fields__)}"
#: Read into one buffer, reused: a new 1 MiB bytes per read cost a quarter
#: more (its pages faulted in afresh each time), the same bytes summed.
_CRC_CHUNK = 1 << 18


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


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(IndexFile)


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
        elif any(not 0 <= r.offset < index.size for r in index.results):
            why = "names tests outside the bytes it covers"
        elif crc_of(f, index.size) != index.crc or not _ends_with(f, index.size, index.tail):
            why = "does not match the log's bytes (it was rewritten)"
    if why is not None:
        log.info("%s %s: reading the log whole", path, why)
        return None
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
                out.write(_encoder.encode(index))
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
