"""Exports of results as CSV (for a spreadsheet) and JSON, streamed in chunks.

The first five CSV columns are exactly the prototype's, so spreadsheets made
for it keep working: ``Port, Name, Timestamp, Send rate (bps), Receive rate
(bps)`` with Timestamp an Excel serial date in local time, *send* being
server → client (download) and *receive* client → server (upload).

The columns after them name the side that measured each figure: iperf3's
server log holds the station's view, so a download is what the station sent
(``Download measured by``) unless the client's own figures are in the log,
and a UDP download's jitter and loss, which only the client can measure, say
``unknown`` rather than leave an empty cell that reads as "no loss".

The Name column holds the test's *place* (see :mod:`webperf3.survey`: set on
the station, the client's ``--extra-data``, or named from the browser), and
the last columns say where it came from, keep the client's raw
``--extra-data``, and name the survey: :class:`Notes`, one per result, given
alongside the results. Without notes, Name is the ``--extra-data``.

The last two say whether the station itself cut the test (its stop or
restart: not a failure of the place) and the error in plain words beside
iperf3's own text in ``Error``. New columns go at the end, always.

About 500 lines: the cells (:func:`csv_row`, the reference), the fast
lines of the same cells (:func:`figure_lines`), the streamed writer and the
figures it keeps between downloads must give the same bytes, and are kept
side by side.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import time
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

import msgspec

from ..store.record import Result

CSV_HEADER = (
    "Port",
    "Name",
    "Timestamp",
    "Send rate (bps)",
    "Receive rate (bps)",
    "Time",
    "Client address",
    "Protocol",
    "Direction",
    "Duration (s)",
    "Streams",
    "Download measured by",
    "Download retransmits (station)",
    "Upload jitter (ms, station)",
    "Upload loss (%, station)",
    "Download jitter (ms, client)",
    "Download loss (%, client)",
    "Error",
    "Place source",
    "Client's --extra-data",
    "Survey",
    "Excluded",
    "Test id",
    "Interrupted by the station",
    "Error in plain words",
    # A browser test's own (webperf3/browsertest): its method and the
    # browser's round trips, idle and while each direction loaded the link.
    "Method",
    "Latency idle (ms, browser, median)",
    "Latency idle (ms, browser, 90th percentile)",
    "Latency during download (ms, browser, median)",
    "Latency during download (ms, browser, 90th percentile)",
    "Latency during upload (ms, browser, median)",
    "Latency during upload (ms, browser, 90th percentile)",
    "Browser",
    # The station's own round trips while it sent a TCP download (-R, --bidir;
    # Linux): its measure of the latency under load, not the client's.
    "Station RTT under load (ms, station, min)",
    "Station RTT under load (ms, station, mean)",
    "Station RTT under load (ms, station, max)",
)
#: What the Method column says (``Result.method``): a browser test measures
#: HTTP goodput through the browser, not iperf3's TCP.
METHOD_NAMES = {"iperf3": "iperf3", "browser": "browser, HTTP"}


class Notes(NamedTuple):
    """What people added to one test (from the survey book), for the exports."""

    id: str
    place: str | None
    place_source: str | None  # "edited", "client", "browser"
    survey_name: str
    excluded: bool
    survey: int | None = None  # the survey's id

    def to_dict(self) -> dict[str, object]:
        # The same keys as the live push's annotated results, and the survey's name.
        return {
            "id": self.id, "place": self.place, "place_source": self.place_source,
            "survey": self.survey, "survey_name": self.survey_name, "excluded": self.excluded,
        }
#: What the cells of ``Download measured by`` say, per ``Result.download_measured_by``.
MEASURED_BY = {"station": "station sent", "client": "client received", "browser": "browser received"}
#: A figure the test had but the log cannot tell (a UDP download's jitter and
#: loss, measured by the client alone).
UNKNOWN = "unknown"
#: Days from Excel's epoch to 1970-01-01: DATE(1970,1,1) == 25569.
_EXCEL_UNIX_EPOCH = 25569
#: A cell starting with one of these is a formula to a spreadsheet.
_FORMULA_START = frozenset("=+-@\u2212")  # U+2212 MINUS SIGN, which some read as "-"
#: Leading characters a spreadsheet may skip before it sees a formula: a cell
#: starting with any of these is quoted outright.
_FORMULA_LEAD = ("\t", "\r", "\n")
_ROWS_PER_CHUNK = 256


def excel_serial(timesecs: float, local: time.struct_time | None = None) -> float:
    """Seconds since the epoch → an Excel serial date in local time."""
    offset = (local or time.localtime(timesecs)).tm_gmtoff
    return (timesecs + offset) / 86400 + _EXCEL_UNIX_EPOCH


def iso_time(timesecs: float, local: time.struct_time | None = None) -> str:
    """ISO 8601 in local time with its UTC offset, e.g. 2022-03-15T02:50:52+00:00."""
    if timesecs != int(timesecs):
        return datetime.fromtimestamp(timesecs).astimezone().isoformat()
    # strftime and a cached offset: datetime.astimezone() costs three times
    # as much, once per row of an export of thousands.
    local = local or time.localtime(timesecs)
    return time.strftime("%Y-%m-%dT%H:%M:%S", local) + _utc_offset(local.tm_gmtoff)


@functools.lru_cache(maxsize=16)
def _utc_offset(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def safe_text(text: str | None) -> str:
    """Text from the network must not become a spreadsheet formula.

    A leading ``'`` is added when the text starts with ``= + - @``, tab, CR or
    LF, or with one of ``= + - @`` behind spaces of any kind, invisible
    (format) characters, or as a full-width or small look-alike (＝, ﹦):
    spreadsheets and their import filters trim or fold those.
    """
    if not text:
        return ""
    first = text[0]
    if first.isalnum():  # nearly every name: no more work
        return text
    return "'" + text if first in _FORMULA_LEAD or _starts_formula(text) else text


def _starts_formula(text: str) -> bool:
    for char in text:
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Zs", "Zl", "Zp"):
            continue
        return char in _FORMULA_START or unicodedata.normalize("NFKC", char) in _FORMULA_START
    return False


def _blank(value: object) -> object:
    return "" if value is None else value


def sided_cells(r: Result) -> tuple[object, ...]:
    """The cells from ``Download measured by`` to ``Download loss``: each
    figure under the side that measured it, ``unknown`` for one the test had
    but nobody logged, empty for one the test did not have."""
    if r.download_bps is None:
        measured_by = ""
    else:
        # A Result read before the field existed is the station's view.
        measured_by = _CLIENT if r.download_measured_by == "client" else _STATION
        if r.method == "browser":
            measured_by = MEASURED_BY["browser"]
    if r.protocol != "UDP" or r.error is not None:  # most tests: no jitter or loss to tell
        return (measured_by, "" if r.retransmits is None else r.retransmits, "", "", "", "")
    up = r.upload_bps is not None
    down = r.download_bps is not None
    return (
        measured_by,
        _blank(r.retransmits),
        _figure(r.jitter_ms, up),
        _figure(r.loss_percent, up),
        _figure(r.download_jitter_ms, down),
        _figure(r.download_loss_percent, down),
    )


_STATION, _CLIENT = MEASURED_BY["station"], MEASURED_BY["client"]


def _figure(value: float | None, expected: bool) -> object:
    if value is not None:
        return value
    return UNKNOWN if expected else ""


def notes_cells(r: Result, n: Notes | None, guard: Callable[[str | None], str] = safe_text) -> tuple[object, ...]:
    """The last columns: where the place came from, the raw --extra-data, the
    survey. ``guard`` keeps text from the network from being a formula (a
    CSV's cells need it; an .xlsx's text cells do not)."""
    if n is None:
        return ("client" if r.name else "", guard(r.name), "", "", "")
    return (n.place_source or "", guard(r.name), guard(n.survey_name), "yes" if n.excluded else "", n.id)


def outcome_cells(r: Result) -> tuple[str, str]:
    """``Interrupted by the station`` and ``Error in plain words`` (our own words: no guard needed)."""
    return ("yes" if r.interrupted else "", r.error_plain or "")


def method_cells(r: Result, guard: Callable[[str | None], str] = safe_text) -> tuple[object, ...]:
    """``Method`` to the station's RTT: empty latency cells for a test without them."""
    b, rtt = r.browser, r.station_rtt
    station = ("", "", "") if rtt is None else (_blank(rtt.min_ms), _blank(rtt.mean_ms), _blank(rtt.max_ms))
    if b is None:
        return (METHOD_NAMES.get(r.method, r.method), "", "", "", "", "", "", "", *station)
    return (
        METHOD_NAMES.get(r.method, r.method),
        _blank(b.latency_idle_ms), _blank(b.latency_idle_p90_ms),
        _blank(b.latency_download_ms), _blank(b.latency_download_p90_ms),
        _blank(b.latency_upload_ms), _blank(b.latency_upload_p90_ms),
        guard(b.agent),
        *station,
    )


_IPERF3_METHOD_CELLS = "," + ",".join(map(str, method_cells(Result(port=0, time=0.0))))
_IPERF3_NO_RTT = _IPERF3_METHOD_CELLS[: -len(",,,")]


def _method_tail(r: Result) -> str:
    if r.browser is None and r.method == "iperf3":
        rtt = r.station_rtt
        if rtt is None:
            return _IPERF3_METHOD_CELLS
        # A TCP download's round trips (one test in seven of the benchmark's):
        # numbers, never quoted, as method_cells and the writer would give them.
        low, mean, high = rtt.min_ms, rtt.mean_ms, rtt.max_ms
        return f"{_IPERF3_NO_RTT},{'' if low is None else low},{'' if mean is None else mean},{'' if high is None else high}"
    return "," + ",".join(csv_cell(str(c)) for c in method_cells(r))


def csv_row(r: Result, n: Notes | None = None) -> tuple[object, ...]:
    """One test's cells, in :data:`CSV_HEADER` order."""
    return (r.port, safe_text(r.name if n is None else n.place), *figure_cells(r), *notes_cells(r, n), *outcome_cells(r), *method_cells(r))


def figure_cells(r: Result) -> tuple[object, ...]:
    """The cells from ``Timestamp`` to ``Error``: what the result alone decides."""
    local = time.localtime(r.time)
    return (
        excel_serial(r.time, local),
        _blank(r.download_bps),
        _blank(r.upload_bps),
        iso_time(r.time, local),
        safe_text(r.client),
        safe_text(r.protocol),
        _blank(r.direction),
        _blank(r.duration),
        _blank(r.streams),
        *sided_cells(r),
        safe_text(r.error),
    )


def csv_chunks(
    results: Iterable[Result], notes: Iterable[Notes | None] | None = None, figures: CsvFigures | None = None
) -> Iterator[str]:
    """The CSV export, streamed: the header, then the rows in pieces of about
    :data:`CHUNK_CHARS` (a row longer than that is a piece of its own).

    Byte for byte what :func:`csv_row` through :func:`csv.writer` writes,
    row after row, but a piece never holds more than it must: a download
    to a client that reads nothing holds the server's output buffer and one
    piece, however long the names (a 256-row chunk of 120 kB names was
    61 MB). ``notes`` may be an iterator (:meth:`Board.iter_notes`): it is
    read as the rows are written. ``figures`` keeps the cells each result
    alone decides between downloads (the dashboard's); without it they are
    formatted here.
    """
    yield ",".join(map(csv_cell, CSV_HEADER)) + "\r\n"
    figures = figures if figures is not None else CsvFigures(keep=False)
    results = results if isinstance(results, Sequence) else list(results)
    notes_left = iter(notes) if notes is not None else itertools.repeat(None)
    pending: list[str] = []
    size = 0
    guarded, plain = _Cells(_guarded_cell), _Cells(_plain_cell)
    groups = 0
    for index, start in enumerate(range(0, len(results), _ROWS_PER_CHUNK)):
        groups = index + 1
        batch = tuple(results[start : start + _ROWS_PER_CHUNK])
        middles = figures.middles(index, batch)
        for r, n, middle in zip(batch, itertools.islice(notes_left, len(batch)), middles):
            if n is None:
                name = guarded[r.name]
                line = (
                    f"{plain[r.port]},{name},{middle},{'client' if r.name else ''},{name},,,,"
                    f"{'yes' if r.interrupted else ''},{plain[r.error_plain]}{_method_tail(r)}\r\n"
                )
            else:
                line = (
                    f"{plain[r.port]},{guarded[n.place]},{middle},{plain[n.place_source]},{guarded[r.name]},"
                    f"{guarded[n.survey_name]},{'yes' if n.excluded else ''},{csv_cell(n.id)},"
                    f"{'yes' if r.interrupted else ''},{plain[r.error_plain]}{_method_tail(r)}\r\n"
                )
            pending.append(line)
            size += len(line)
            if size >= CHUNK_CHARS:
                yield "".join(pending)
                pending.clear()
                size = 0
    if pending:
        yield "".join(pending)
    figures.forget_after(groups)  # those of tests no longer in the store


#: About how many characters each piece of a streamed export holds: small
#: beside the web server's output buffer per connection (256 KiB), so that
#: buffer is what a client that reads nothing can hold.
CHUNK_CHARS = 32 * 1024


def csv_cell(text: str) -> str:
    """Text as :func:`csv.writer` writes it in a cell of a row of several
    (its default dialect, ``QUOTE_MINIMAL``): in double quotes, each one
    doubled, when it holds a comma, a double quote, CR or LF."""
    if '"' in text:
        return '"' + text.replace('"', '""') + '"'
    if "," in text or "\n" in text or "\r" in text:
        return '"' + text + '"'
    return text


class _Cells(dict):
    """Each value's cell, made on first use by ``make``; at most
    :attr:`KEPT` remembered (an export of 100,000 distinct names must not
    keep them all). ``cells[value]`` is a dict look-up when it is known."""

    KEPT = 4096

    def __init__(self, make: Callable[[object], str]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, key: object) -> str:
        if len(self) >= self.KEPT:
            self.clear()
        cell = self[key] = self._make(key)
        return cell


def _plain_cell(value: object) -> str:
    return "" if value is None else csv_cell(str(value))


def _guarded_cell(text: object) -> str:
    return csv_cell(safe_text(text))  # type: ignore[arg-type]


class CsvFigures:
    """The CSV cells each result alone decides (Timestamp to Error: its time,
    rates, address, ...), formatted once and kept between downloads.

    A Result never changes, and formatting its floats and local time is most
    of an export's cost: 21,031 tests, every row formatted, 150 ms (through
    :func:`csv.writer`; about 70 ms by :func:`figure_lines`); with the
    figures kept, 29 ms, and 20 ms more for the notes. What people add
    (places, surveys, edits) is left out: it changes, and a name can be any
    length, so it is written anew on every download. Kept per 256 tests in
    a row of the store's order, zlib-compressed: about 20 bytes a test (the
    whole lines kept as text, with their notes, had cost about 390: 40 MiB
    at 106,314 tests). Results arriving at the end change only the last
    group. Safe to share between the web server's threads (a lost race
    formats a group twice).
    """

    def __init__(self, *, keep: bool = True, known: Mapping[int, str] | None = None) -> None:
        self.keep = keep
        # id(result) → its line, as the station formatted it when it wrote the
        # index beside the logs (iperf3/reader/index.py, ``kept_figures``):
        # copied, not formatted again. Only for results kept alive with it.
        self.known = known
        # group number → (its results, kept alive so that they stay the ones
        # formatted; their cells, one line each, compressed)
        self._groups: dict[int, tuple[tuple[Result, ...], bytes]] = {}

    def middles(self, index: int, results: tuple[Result, ...]) -> list[str]:
        """The cells of ``results`` (the ``index``-th group of 256 of an
        export), one line each without its end."""
        kept = self._groups.get(index) if self.keep else None
        if kept is not None and kept[0] == results:  # the same results, compared by identity first
            return zlib.decompress(kept[1]).decode().split("\n")
        lines = figure_lines(results) if not self.known else self._copied(results)
        if self.keep and not any("\n" in line for line in lines):  # a quoted newline would split wrong: not kept
            self._groups[index] = (results, zlib.compress("\n".join(lines).encode(), 1))
        return lines

    def _copied(self, results: tuple[Result, ...]) -> list[str]:
        known = self.known
        assert known is not None
        lines = [known.get(id(r)) for r in results]
        if None in lines:  # a test past the index, or in an hour the clocks changed: formatted here
            fresh = iter(figure_lines([r for r, line in zip(results, lines) if line is None]))
            lines = [next(fresh) if line is None else line for line in lines]
        return lines  # type: ignore[return-value]

    def forget_after(self, groups: int) -> None:
        """Drop the groups past the first ``groups`` (the store lost results)."""
        # list() copies the keys at once: another thread's download may be adding one.
        for index in [i for i in list(self._groups) if i >= groups]:
            self._groups.pop(index, None)

    def warm_up(self, results: Sequence[Result]) -> None:
        """Format every group of ``results`` ahead of the first download."""
        for index, start in enumerate(range(0, len(results), _ROWS_PER_CHUNK)):
            self.middles(index, tuple(results[start : start + _ROWS_PER_CHUNK]))
        self.forget_after((len(results) + _ROWS_PER_CHUNK - 1) // _ROWS_PER_CHUNK)

    def kept_bytes(self) -> int:
        """What the kept cells take, compressed (for the benchmarks)."""
        return sum(len(blob) for _, blob in list(self._groups.values()))


def figure_lines(results: Iterable[Result]) -> list[str]:
    """Each result's :func:`figure_cells` as :func:`csv.writer` writes them,
    one line each without its end.

    The same bytes, made with one f-string a test instead of a tuple of
    cells through the writer: half of a cold ``webperf3 export`` was that
    (21,031 tests: 180 ms, of which ``figure_cells`` 60 and the writer's
    turning each cell to text 80). A test whose time has a fraction goes the
    reference way, through :func:`figure_cells` and the writer."""
    guarded, plain = _Cells(_guarded_cell), _Cells(_plain_cell)
    offsets: dict[int, int | None] = {}  # a UTC hour → its one UTC offset, or None if it changes within it
    days: dict[int, str] = {}  # a local day → "YYYY-MM-DDT"
    lines: list[str] = []
    buffer, writer = None, None
    for r in results:
        t = r.time
        seconds = int(t)
        hour = seconds // 3600
        offset = offsets.get(hour, _UNSEEN)
        if offset is _UNSEEN:
            offset = offsets[hour] = offset_of_hour(hour)
        if seconds != t or offset is None:  # a fraction, or the clocks changed in this hour: the reference
            if writer is None:
                buffer = io.StringIO()
                writer = csv.writer(buffer)
            writer.writerow(figure_cells(r))
            lines.append(_take(buffer)[:-2])  # type: ignore[arg-type]
            continue
        day, second = divmod(seconds + offset, 86400)
        date = days.get(day)
        if date is None:
            date = days[day] = time.strftime("%Y-%m-%dT", time.gmtime(day * 86400))
        if r.protocol != "UDP" or r.error is not None:  # as sided_cells: no jitter or loss to tell
            if r.download_bps is None:
                measured_by = ""
            elif r.method == "browser":
                measured_by = _BROWSER
            else:
                measured_by = _CLIENT if r.download_measured_by == "client" else _STATION
            retransmits = r.retransmits
            sided = f"{measured_by},{'' if retransmits is None else retransmits},,,,"
        else:
            sided = ",".join(map(str, sided_cells(r)))
        down, up, duration, streams = r.download_bps, r.upload_bps, r.duration, r.streams
        lines.append(
            f"{(t + offset) / 86400 + _EXCEL_UNIX_EPOCH},{'' if down is None else down},{'' if up is None else up},"
            f"{date}{_CLOCK[second // 60]}{_SECONDS[second % 60]}{_utc_offset(offset)},"
            f"{guarded[r.client]},{guarded[r.protocol]},{plain[r.direction]},"
            f"{'' if duration is None else duration},{'' if streams is None else streams},{sided},{guarded[r.error]}"
        )
    return lines


_UNSEEN = object()
# "HH:MM:" of each minute of a day and "SS" of each second, as strftime's
# %H:%M:%S writes them: three format specs a row cost a fifth of the lines.
_CLOCK = tuple(f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60))
_SECONDS = tuple(f"{s:02d}" for s in range(60))
_BROWSER = MEASURED_BY["browser"]


def offset_of_hour(hour: int) -> int | None:
    """The UTC offset of local time throughout a UTC hour, or None when it
    is not the same at its first and last second (the clocks changed; no
    zone's rules change them twice within an hour)."""
    first = time.localtime(hour * 3600).tm_gmtoff
    return first if time.localtime(hour * 3600 + 3599).tm_gmtoff == first else None


def _take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


_encode = msgspec.json.Encoder().encode  # NaN → null: always valid JSON


def json_record(record: dict) -> str:
    """One record as the JSON exports write it, online and offline alike (compact, NaN as null)."""
    return _encode(record).decode()


def json_chunks(
    results: Iterable[Result], dumps: Callable[[dict], str] = json_record, notes: Iterable[Notes | None] | None = None
) -> Iterator[str]:
    """A JSON array of result records (with their notes, when given),
    streamed in pieces of about :data:`CHUNK_CHARS`, as :func:`csv_chunks`."""
    yield "["
    sep = "\n"
    batch: list[str] = []
    size = 0
    pairs = zip(results, notes) if notes is not None else ((r, None) for r in results)
    for result, note in pairs:
        record = result.to_dict() if note is None else {**result.to_dict(), **note.to_dict()}
        text = sep + dumps(record)
        batch.append(text)
        size += len(text)
        sep = ",\n"
        if size >= CHUNK_CHARS:
            yield "".join(batch)
            batch.clear()
            size = 0
    yield "".join(batch) + "\n]\n"
