"""A browser test run as the page runs it, with real websocket clients
(the sync API of ``websockets``), for tests and benchmarks without a
browser: the control connection, parallel download and upload streams."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect


@dataclass
class Run:
    ready: dict[str, Any] | None = None
    busy: dict[str, Any] | None = None
    download_bytes: int = 0
    download_seconds: float = 0.0
    upload_done: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    pings: dict[str, list[float]] = field(default_factory=lambda: {"idle": [], "download": [], "upload": []})
    refused_streams: list[int] = field(default_factory=list)


def control(port: int, host: str = "127.0.0.1") -> contextlib.AbstractContextManager[ClientConnection]:
    return connect(f"ws://{host}:{port}/browser-test", open_timeout=5, close_timeout=2, max_size=None)


def _stream(port: int, path: str, token: str, host: str) -> ClientConnection:
    return connect(f"ws://{host}:{port}/browser-test/{path}?t={token}", open_timeout=5, close_timeout=1, max_size=None)


def _ping(ws: ClientConnection, n: int) -> float:
    start = time.perf_counter()
    ws.send(json.dumps({"type": "ping", "n": n}))
    while True:
        msg = json.loads(ws.recv(5))
        if msg["type"] == "pong" and msg["n"] == n:
            return (time.perf_counter() - start) * 1000
        _pending.append(msg)


_pending: list[dict[str, Any]] = []  # messages read while waiting for a pong (one test at a time)


def _next(ws: ClientConnection, kind: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        for i, msg in enumerate(_pending):
            if msg["type"] in (kind, "error"):
                return _pending.pop(i)
        msg = json.loads(ws.recv(max(0.01, deadline - time.monotonic())))
        if msg["type"] in (kind, "error"):
            return msg


def run_test(port: int, host: str = "127.0.0.1", *, leave_during: str | None = None, report_bytes: int | None = None, upload_message: int | None = None) -> Run:
    """One whole test. ``leave_during`` ("download"/"upload") closes the page
    mid-way; ``report_bytes`` reports another download figure than measured."""
    run = Run()
    _pending.clear()
    with control(port, host) as ws:
        first = json.loads(ws.recv(5))
        if first["type"] == "busy":
            run.busy = first
            return run
        run.ready = first
        token, streams = first["token"], first["streams"]
        warm, measure = first["warmup_seconds"], first["measure_seconds"]
        for n in range(5):
            run.pings["idle"].append(_ping(ws, n))
        # -- download: the client counts what it received after the warm-up
        ws.send(json.dumps({"type": "download"}))
        _next(ws, "go")
        counts = [0] * streams
        stop = threading.Event()
        t_start = time.monotonic()

        def down(i: int) -> None:
            try:
                with _stream(port, "down", token, host) as s:
                    while not stop.is_set():
                        counts[i] += len(s.recv(5))
            except InvalidStatus as exc:
                run.refused_streams.append(exc.response.status_code)
            except (ConnectionClosed, TimeoutError):
                pass

        threads = [threading.Thread(target=down, args=(i,), daemon=True) for i in range(streams)]
        for t in threads:
            t.start()
        n = 100
        while time.monotonic() - t_start < warm:
            run.pings["download"].append(_ping(ws, n)); n += 1; time.sleep(0.05)
        b0, t0 = sum(counts), time.monotonic()
        if leave_during == "download":
            return run
        while time.monotonic() - t0 < measure:
            run.pings["download"].append(_ping(ws, n)); n += 1; time.sleep(0.05)
        run.download_bytes, run.download_seconds = sum(counts) - b0, time.monotonic() - t0
        stop.set()
        # -- upload: the station counts and times it
        ws.send(json.dumps({"type": "upload"}))
        _next(ws, "go")
        up_stop = threading.Event()
        chunk = bytes(upload_message or first["upload_message_bytes"])

        def up() -> None:
            try:
                with _stream(port, "up", token, host) as s:
                    s.recv(5)  # the station's "go": it counts from there
                    while not up_stop.is_set():
                        s.send(chunk)
            except InvalidStatus as exc:
                run.refused_streams.append(exc.response.status_code)
            except (ConnectionClosed, OSError, TimeoutError):
                pass

        uppers = [threading.Thread(target=up, daemon=True) for _ in range(streams)]
        for t in uppers:
            t.start()
        if leave_during == "upload":
            time.sleep(warm)
            return run
        ws_done = None
        deadline = time.monotonic() + first["phase_seconds"] + 5
        while ws_done is None and time.monotonic() < deadline:
            run.pings["upload"].append(_ping(ws, n)); n += 1; time.sleep(0.05)
            for i, msg in enumerate(_pending):
                if msg["type"] == "upload_done":
                    ws_done = _pending.pop(i)
                    break
        up_stop.set()
        run.upload_done = ws_done
        ws.send(json.dumps({
            "type": "finish",
            "download": {"bytes": run.download_bytes if report_bytes is None else report_bytes, "seconds": run.download_seconds},
            "latency": run.pings,
        }))
        msg = _next(ws, "result")
        if msg["type"] == "error":
            run.error = msg
        else:
            run.result = msg
    for t in threads + uppers:
        t.join(5)
    return run
