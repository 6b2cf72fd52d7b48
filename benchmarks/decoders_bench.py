"""The JSON decoder choice, measured on real iperf3 entries.

    .venv/bin/python benchmarks/decoders_bench.py [--mb 20] [--repeat 5] [--quick]

Decodes the same objects as the log benchmark (the first ``--mb`` MB of
objects of its 100 MB directory, built from the real logs in tests/data) with:

  a. ``json.loads`` of text, then dict access to the fields webperf3 uses;
  b. ``orjson.loads`` of bytes, then the same dict access;
  c. ``msgspec.json.decode`` untyped (dicts and lists) of bytes, the same access;
  d. msgspec typed structs, decode only (``webperf3.iperf3.reader.entries.entry_decoder``);
  e. ``webperf3.iperf3.reader.entries.parse_entry``: (d) and the Result built from it.

Each line is the median of ``--repeat`` passes over all objects. (a) is given
text already decoded from UTF-8, as the prototype's ``read_text`` did, which
flatters it a little; the others take bytes, as webperf3 reads them.

``--quick``: half a megabyte of objects from a 1 MB directory, one pass.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _data  # noqa: E402
import _report  # noqa: E402


def fields(d: dict) -> tuple:
    """The dict access of (a)-(c): what webperf3 reads of an entry."""
    start = d.get("start") or {}
    ts = (start.get("timestamp") or {}).get("timesecs")
    test = start.get("test_start") or {}
    connected = start.get("connected") or []
    client = connected[0].get("remote_host") if connected else None
    end = d.get("end") or {}
    sums = [
        (end.get(k) or {}).get("bits_per_second")
        for k in ("sum_sent", "sum_received", "sum_sent_bidir_reverse", "sum_received_bidir_reverse")
    ]
    streams = [
        ((s.get("sender") or {}).get("bits_per_second"), (s.get("sender") or {}).get("sender"), (s.get("receiver") or {}).get("bits_per_second"))
        for s in end.get("streams") or []
    ]
    return (
        ts,
        test.get("protocol"),
        test.get("num_streams"),
        test.get("duration"),
        test.get("reverse"),
        client,
        start.get("version"),
        sums,
        streams,
        d.get("error"),
        d.get("extra_data"),
    )


def corpus(megabytes: float, dir_bytes: int = 100_000_000) -> list[bytes]:
    """The first objects of the log benchmark's 100 MB directory (its mix:
    every real test alike, 2 % server records), about ``megabytes`` of them."""
    log_dir, _ = _data.cached_log_dir(dir_bytes)
    out: list[bytes] = []
    size = 0
    for path in _data.log_files(log_dir):
        for text in _data.objects_in(path):
            data = text.encode()
            out.append(data)
            size += len(data)
            if size >= megabytes * 1e6:
                return out
    return out


def run(repeat: int, megabytes: float, dir_bytes: int = 100_000_000) -> list[tuple[str, float, float]]:
    import msgspec

    from webperf3.iperf3.reader.entries import entry_decoder, parse_entry

    objects = corpus(megabytes, dir_bytes)
    texts = [b.decode() for b in objects]
    nbytes = sum(map(len, objects))
    untyped = msgspec.json.Decoder()

    def a_json():
        for s in texts:
            fields(json.loads(s))

    def b_orjson():
        for b in objects:
            fields(orjson.loads(b))

    def c_msgspec_untyped():
        for b in objects:
            fields(untyped.decode(b))

    def d_msgspec_typed():
        for b in objects:
            entry_decoder.decode(b)

    def e_parse_entry():
        for b in objects:
            parse_entry(b, 5201)

    cases = [("a. json.loads + dict access", a_json)]
    try:
        import orjson
    except ImportError:
        print("orjson is not installed: (b) skipped", file=sys.stderr)
    else:
        cases.append((f"b. orjson {orjson.__version__} loads + dict access", b_orjson))
    cases += [
        (f"c. msgspec {msgspec.__version__} untyped + dict access", c_msgspec_untyped),
        ("d. msgspec typed structs, decode only", d_msgspec_typed),
        ("e. parse_entry (d + the Result)", e_parse_entry),
    ]
    print(f"{len(objects)} objects, {nbytes / 1e6:.1f} MB (from a {dir_bytes / 1e6:g} MB log directory), median of {repeat} passes")
    results = []
    for name, fn in cases:
        fn()  # warm-up
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        t = statistics.median(times)
        results.append((name, t, nbytes / t / 1e6))
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mb", type=float, default=20, help="megabytes of objects to decode (default 20)")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--dir-mb", type=float, default=100, help="the log directory the objects come from (default 100, as logs_bench.py)")
    args = _report.parse_args(p, argv, quick={"mb": 0.5, "repeat": 1, "dir_mb": 1})
    results = run(args.repeat, args.mb, int(args.dir_mb * 1e6))
    base = results[0][1]
    width = max(len(r[0]) for r in results)
    print()
    print(f"{'decoder':{width}}  {'time':>9}  {'MB/s':>7}  {'vs json':>8}")
    print("-" * (width + 30))
    for name, t, rate in results:
        print(f"{name:{width}}  {t * 1000:6.0f} ms  {rate:7.0f}  {base / t:7.1f}x")
    print()
    print("Markdown:")
    print()
    print("| decoder | MB/s | vs json |")
    print("| --- | ---: | ---: |")
    for name, t, rate in results:
        print(f"| {name[3:]} | {rate:.0f} | {base / t:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
