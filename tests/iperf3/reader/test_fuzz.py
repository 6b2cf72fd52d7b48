"""Property tests (hypothesis) for the log reader and the HTTP routes, and the
replay of every input a long run ever found failing (tests/data/fuzz/).

In CI each property runs a few dozen examples; ``benchmarks/fuzz.py`` runs
them for an hour or more (see tests/support/fuzz.py). What must hold:

* the reader never raises on any bytes, however they arrive, and reports
  the same tests read in pieces as read whole;
* in a log of real entries, some cut short, every intact test is found;
* any JSON value in any field of a real entry gives a test, no test, or the
  reader's own error, and whatever it gives exports (JSON, CSV) and shows;
* no request of any path, query, header or body gets a 500 or a traceback.
"""

from __future__ import annotations

import base64
import json
import random
import re
import tempfile
import urllib.parse
from functools import cache
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from webtest import TestApp

from tests.support.fuzz import PROFILE, save_failure, saved_cases
from tests.support.paths import DATA
from webperf3.exports.results import csv_row
from webperf3.serving.guard import Guard
from webperf3.iperf3.reader.entries import EntryError, parse_entry
from webperf3.iperf3.reader.logs import EntrySplitter, LogReader
from webperf3.store.record import Result
from webperf3.store.results import ResultsStore
from tests.support.parts import dashboard_of

settings.load_profile(PROFILE)

@cache
def real_objects() -> tuple[bytes, ...]:
    """Every object of every real log in tests/data, tests and server events."""
    found = []
    for path in sorted(DATA.glob("iperf3.*.json")):
        found += [bytes(p.data) for p in EntrySplitter().feed(path.read_bytes()) if p.is_object]
    return tuple(found)


@cache
def real_tests() -> tuple[bytes, ...]:
    return tuple(o for o in real_objects() if parse_entry(o, 5201) is not None)


def shown(result: Result) -> None:
    """Everything the station does with a result must work on it."""
    msgspec.json.encode(result.to_dict())
    csv_row(result)


# -- the reader ----------------------------------------------------------------


def read_in_pieces(data: bytes, cuts: list[int]) -> tuple[list[Result], list[Result]]:
    """(read as appended at each cut, read whole) of one log."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "port-5201.json"
        path.write_bytes(b"")
        reader = LogReader(path, 5201, chunk_size=4096)
        pieces: list[Result] = []
        last = 0
        for cut in sorted(set(c % (len(data) + 1) for c in cuts)) + [len(data)]:
            with path.open("ab") as f:
                f.write(data[last:cut])
            last = cut
            found = reader.read()
            assert not found.reset
            pieces += found.results
        whole = LogReader(path, 5201).read().results
    return pieces, whole


#: A line starting with "}" that is not followed by the next object's
#: opening line (``{`` then ``"start":``) or the end: only damage writes one.
_STRAY_CLOSE = re.compile(rb'\n\}(?!\n\{\s*"start"\s*:|\n?\Z)')
#: A column-0 "{" line other than iperf3's own opening (``{``, newline, tab,
#: ``"start":``). The reader bounds an object by iperf3's opening when the
#: read holds one, else by any opening line; searching every object for
#: other layouts first would cost a fifth of a cold read (measured: 378 ->
#: 471 ms for 66 MB), for logs only damage or another writer makes.
_OTHER_OPENING = re.compile(rb'\n\{(?!\n\t"start":)')


def check_log(data: bytes, cuts: list[int]) -> None:
    try:
        pieces, whole = read_in_pieces(data, cuts)
        # The reader ends an object at a line starting with "}" (iperf3 puts
        # one there and nowhere else). A stray one mid-object is seen as the
        # end when a read stops between it and the real end; read whole, the
        # later one is. Holding every object back until the next one opens
        # would delay each test until the next: so, only without stray ones
        # (nor openings of another layout, see _OTHER_OPENING).
        if not _STRAY_CLOSE.search(data) and not _OTHER_OPENING.search(data):
            assert [(r.time, r.offset) for r in pieces] == [(r.time, r.offset) for r in whole]
        for result in whole:
            shown(result)
    except Exception:  # not pytest's own timeout or a Ctrl-C: those are no input's fault
        save_failure("log", {"data": base64.b64encode(data).decode(), "cuts": cuts})
        raise


@given(st.binary(max_size=4096), st.lists(st.integers(min_value=0, max_value=1 << 16), max_size=8))
def test_any_bytes_in_any_pieces(data: bytes, cuts: list[int]) -> None:
    check_log(data, cuts)


@st.composite
def spliced_logs(draw) -> tuple[bytes, int]:
    """Real objects, some cut short, some with junk between: (log, tests intact)."""
    objects = real_objects()
    parts, intact = [], 0
    for _ in range(draw(st.integers(1, 6))):
        obj = objects[draw(st.integers(0, len(objects) - 1))]
        kind = draw(st.sampled_from(["whole", "whole", "cut", "junk"]))
        if kind == "cut":
            parts.append(obj[: draw(st.integers(1, len(obj) - 2))])
        elif kind == "junk":
            parts.append(draw(st.sampled_from([b"iperf3: exiting\n", b"\n\n", b"garbage\n", b"\x00\xff\n"])))
        else:
            intact += parse_entry(obj, 5201) is not None
            parts.append(obj + b"\n")
    return b"".join(parts), intact


def check_spliced(data: bytes, intact: int, cuts: list[int]) -> None:
    try:
        pieces, whole = read_in_pieces(data, cuts)
        assert [(r.time, r.offset) for r in pieces] == [(r.time, r.offset) for r in whole]
        # An object cut short just before an intact one may take it along
        # only when nothing marks where the next begins: iperf3's opening
        # always does, so every intact test is found.
        assert len(whole) >= intact
    except Exception:  # not pytest's own timeout or a Ctrl-C: those are no input's fault
        save_failure("spliced", {"data": base64.b64encode(data).decode(), "intact": intact, "cuts": cuts})
        raise


@given(spliced_logs(), st.lists(st.integers(min_value=0, max_value=1 << 16), max_size=6))
def test_real_entries_cut_and_spliced(log: tuple[bytes, int], cuts: list[int]) -> None:
    check_spliced(*log, cuts)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def replace_at(doc: object, rng: random.Random, value: object) -> object:
    """*doc* with one field, chosen by walking down at random, set to *value*."""
    if not isinstance(doc, (dict, list)) or not doc or rng.random() < 0.15:
        return value
    if isinstance(doc, dict):
        key = rng.choice(sorted(doc))
        return {**doc, key: replace_at(doc[key], rng, value)}
    i = rng.randrange(len(doc))
    return [*doc[:i], replace_at(doc[i], rng, value), *doc[i + 1 :]]


def check_entry(raw: bytes) -> None:
    try:
        try:
            result = parse_entry(raw, 5201)
        except EntryError:
            return
        if result is not None:
            shown(result)
        dashboard_survives(raw)
    except Exception:  # not pytest's own timeout or a Ctrl-C: those are no input's fault
        save_failure("entry", {"data": base64.b64encode(raw).decode()})
        raise


def dashboard_survives(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "port-5201.json").write_bytes(raw + b"\n")
        app = TestApp(dashboard_of(ResultsStore(Path(tmp)), ports=lambda: [5201]).app, lint=False)
        for url in ("/", "/api/latest", "/api/results", "/csv", "/xlsx", "/metrics", "/healthz"):
            answer = app.get(url, expect_errors=True)
            assert answer.status_int < 500 or url == "/metrics", (url, answer.status)
            assert b"Traceback" not in answer.body


@given(st.integers(min_value=0), json_values)
def test_any_json_value_in_any_field(seed: int, value: object) -> None:
    rng = random.Random(seed)
    doc = json.loads(rng.choice(real_tests()))
    # As iperf3 (cJSON) lays an object out: a tab per level.
    check_entry(json.dumps(replace_at(doc, rng, value), indent="\t").encode())


# -- the HTTP routes -------------------------------------------------------------


ROUTES = ["/", "/api/config", "/api/latest", "/api/results", "/api/servers", "/api/clear", "/api/clear/undo",
          "/api/device", "/qr.svg", "/csv", "/xlsx", "/api/results.json", "/healthz", "/metrics",
          "/static/", "/api/place", "/api/surveys", "/api/surveys/undo", "/api/surveys/1", "/api/results/"]
header_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-ABCXYZ_0123456789", min_size=1, max_size=20)
header_values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60)


@cache
def station_app() -> TestApp:
    tmp = Path(tempfile.mkdtemp(prefix="webperf3-fuzz-"))
    for i, obj in enumerate(real_objects()[:12]):
        with (tmp / f"port-{5201 + i % 3}.json").open("ab") as f:
            f.write(obj + b"\n")
    dashboard = dashboard_of(ResultsStore(tmp), ports=lambda: [5201, 5202, 5203], admin_token="tok")
    return TestApp(Guard(dashboard.app), lint=False)


def check_request(method: str, path: bytes, query: str, headers: dict[str, str], body: bytes) -> None:
    url = urllib.parse.quote(path, safe="/") + ("?" + query if query else "")
    try:
        answer = station_app().request(url, method=method, headers=headers, body=body, expect_errors=True)
        assert answer.status_int != 500, answer.status
        assert b"Traceback" not in answer.body
    except Exception:  # not pytest's own timeout or a Ctrl-C: those are no input's fault
        save_failure("http", {"method": method, "path": base64.b64encode(path).decode(), "query": query,
                              "headers": headers, "body": base64.b64encode(body).decode()})
        raise


@given(
    st.sampled_from(["GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS"]),
    st.builds(lambda route, tail: route.encode() + tail, st.sampled_from(ROUTES), st.binary(max_size=24)),
    st.text(max_size=60).map(lambda t: urllib.parse.quote(t, safe="=&;")),
    st.dictionaries(header_names, header_values, max_size=4),
    st.binary(max_size=256) | st.sampled_from([b"{}", b'{"name": "x"}', b"[]", b"null", b'{"place": 1}']),
)
def test_any_request(method: str, path: bytes, query: str, headers: dict[str, str], body: bytes) -> None:
    check_request(method, path, query, headers, body)


# -- what long runs found ------------------------------------------------------------


@pytest.mark.parametrize(("name", "case"), saved_cases() or [("none", {"kind": "none"})])
def test_every_input_that_ever_failed(name: str, case: dict) -> None:
    kind = case["kind"]
    if kind == "none":
        pytest.skip("no fuzz failure kept yet under tests/data/fuzz/")
    data = base64.b64decode(case.get("data", ""))
    if kind == "log":
        check_log(data, case["cuts"])
    elif kind == "spliced":
        check_spliced(data, case["intact"], case["cuts"])
    elif kind == "entry":
        check_entry(data)
    elif kind == "http":
        check_request(case["method"], base64.b64decode(case["path"]), case["query"], case["headers"],
                      base64.b64decode(case["body"]))
    else:
        raise AssertionError(f"unknown kind of fuzz case {kind!r} in {name}")
