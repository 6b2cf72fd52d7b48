"""What the station does when its log files are taken from under running
iperf3 servers, and when the disk fills.

    sudo .venv/bin/python benchmarks/log_faults_bench.py [--iperf3 PATH] [--ports 2] [--quick]

Real iperf3 servers (a ServerFleet) and clients on 127.0.0.1, 1-second
tests; every loop bounded. Measures:

1. the log directory deleted, deleted and made again, or renamed away:
   seconds until every server runs again onto a new file, and how many of
   the tests run afterwards (one per port) are in the store;
2. a port's log deleted during a 3-second test: whether that test is in
   the new file (copied over from the deleted one) and when the server
   was restarted;
3. a full disk (root only: a 512 kB tmpfs): seconds until the status
   says so (``/healthz`` 503), which of the tests before / during / after
   are in the store, seconds until it is 200 again after space returns;
4. a FIFO named ``port-N.json``: how long a store refresh takes (it used
   to block forever).

Prints one JSON object; nothing asserted (the tests do that).

``--quick``: one port, tests of 256 KB instead of a second, the test the log
is deleted under 2 seconds long; without iperf3 it says so and exits 77
(skipped). The full disk is measured only as root, quick or not.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import _report  # noqa: E402
from tests.support.ports import free_ports  # noqa: E402
from tests.support.waiting import wait_until  # noqa: E402
from webperf3.ops.health import http_status, problems  # noqa: E402
from webperf3.iperf3.fleet.servers import ServerFleet  # noqa: E402
from webperf3.iperf3.fleet.state import Backoff  # noqa: E402
from webperf3.store.results import ResultsStore  # noqa: E402


#: How long each test run by :func:`client` is (iperf3's -t or -n).
ONE_SECOND = ("-t", "1")


def client(iperf3: str, port: int, name: str, length: tuple[str, ...] = ONE_SECOND) -> int:
    return subprocess.run([iperf3, "-c", "127.0.0.1", "-p", str(port), *length, "--connect-timeout", "3000",
                           "--extra-data", name], capture_output=True, timeout=30, check=False).returncode


def names(log_dir: Path) -> list[str]:
    store = ResultsStore(log_dir)
    store.refresh()
    return [r.name for r in store.results()]


def fleet_for(iperf3: str, ports: list[int], log_dir: Path) -> ServerFleet:
    fleet = ServerFleet(ports, log_dir, iperf3=iperf3, bind="127.0.0.1", poll_interval=0.1,
                        backoff=Backoff(initial=0.2, cap=1.0))
    fleet.start()
    wait_until(lambda: all(s.state == "idle" for s in fleet.status()), 10.0, what="idle")
    return fleet


def displaced_dir(iperf3: str, n: int, how: str, length: tuple[str, ...] = ONE_SECOND) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        log_dir = Path(tmp) / "logs"
        ports = free_ports(n)
        fleet = fleet_for(iperf3, ports, log_dir)
        try:
            pids = {s.port: s.pid for s in fleet.status()}
            t0 = time.monotonic()
            if how == "renamed":
                log_dir.rename(Path(tmp) / "old")
            else:
                shutil.rmtree(log_dir)
            if how == "deleted and made again":
                log_dir.mkdir()
            wait_until(lambda: all(s.pid not in (None, pids[s.port]) and s.state == "idle" for s in fleet.status()),
                       10.0, what="restarted")
            restarted = time.monotonic() - t0
            for port in ports:
                client(iperf3, port, f"after {port}", length)
            time.sleep(0.5)
            kept = sum(name.startswith("after") for name in names(log_dir))
        finally:
            fleet.stop()
    return {"case": f"log directory {how}", "restarted_s": round(restarted, 2), "tests_after": n, "kept": kept}


def deleted_mid_test(iperf3: str, seconds: int = 3) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        log_dir = Path(tmp) / "logs"
        [port] = free_ports(1)
        fleet = fleet_for(iperf3, [port], log_dir)
        try:
            pid = fleet.status()[0].pid
            running = subprocess.Popen([iperf3, "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "--extra-data", "walking"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_until(lambda: fleet.status()[0].state == "testing", 5.0, what="testing")
            t0 = time.monotonic()
            fleet.log_path(port).unlink()
            running.wait(30)
            ended = time.monotonic() - t0
            wait_until(lambda: fleet.status()[0].pid not in (None, pid) and fleet.status()[0].state == "idle", 30.0,
                       what="restarted")
            restarted = time.monotonic() - t0
            time.sleep(0.3)
            saved = "walking" in names(log_dir)
        finally:
            fleet.stop()
    return {"case": "log deleted mid-test", "client_exit": running.returncode, "test_ended_s": round(ended, 2),
            "restarted_s": round(restarted, 2), "running_test_kept": saved}


def full_disk(iperf3: str, length: tuple[str, ...] = ONE_SECOND) -> dict:
    if os.geteuid() != 0:
        return {"case": "full disk", "skipped": "needs root (mount -t tmpfs)"}
    mnt = Path(tempfile.mkdtemp(prefix="webperf3-bench-tmpfs-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)], check=True)
    try:
        log_dir = mnt / "logs"
        [port] = free_ports(1)
        fleet = fleet_for(iperf3, [port], log_dir)
        health = lambda: http_status(problems([s.to_dict() for s in fleet.status()]))  # noqa: E731
        try:
            client(iperf3, port, "before", length)
            filler = mnt / "filler"
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
            t0 = time.monotonic()
            try:
                while True:
                    os.write(fd, b"x" * 4096)
            except OSError:
                pass
            os.close(fd)
            wait_until(lambda: health() == 503, 10.0, what="503")
            shown = time.monotonic() - t0
            client(iperf3, port, "during", length)
            t1 = time.monotonic()
            filler.unlink()
            wait_until(lambda: health() == 200, 10.0, what="200")
            recovered = time.monotonic() - t1
            client(iperf3, port, "after", length)
            time.sleep(0.5)
            store = ResultsStore(log_dir)
            store.refresh()
            found = [r.name for r in store.results()]
        finally:
            fleet.stop()
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
        mnt.rmdir()
    return {"case": "full disk (512 kB tmpfs)", "shown_s": round(shown, 2), "recovered_s": round(recovered, 2),
            "kept": found, "skipped_entries": store.skipped}


def fifo() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        os.mkfifo(Path(tmp) / "port-5201.json")
        store = ResultsStore(Path(tmp))
        t0 = time.perf_counter()
        for _ in range(100):
            store.refresh()
        return {"case": "FIFO as port-5201.json", "refresh_ms": round((time.perf_counter() - t0) * 10, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iperf3", default="iperf3")
    parser.add_argument("--ports", type=int, default=2)
    args = _report.parse_args(parser, None, quick={"ports": 1})
    if args.quick and shutil.which(args.iperf3) is None:
        _report.skip(f"{args.iperf3} not found: the servers whose logs are taken away are real iperf3 servers")
    length, mid_test_s = (("-n", "256K"), 2) if args.quick else (ONE_SECOND, 3)
    import logging

    logging.disable(logging.WARNING)  # the warnings are the point of the tests, not of this table
    version = subprocess.run([args.iperf3, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    cases = [displaced_dir(args.iperf3, args.ports, how, length) for how in ("deleted", "deleted and made again", "renamed")]
    cases += [deleted_mid_test(args.iperf3, mid_test_s), full_disk(args.iperf3, length), fifo()]
    print(json.dumps({"iperf3": version, "cases": cases}, indent=2))


if __name__ == "__main__":
    main()
