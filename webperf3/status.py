"""``webperf3 status``: ask a running webperf3 for its servers and latest results."""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urljoin

from .exitstatus import ExitStatus
from .text import printable

COLUMNS = ("Port", "Server", "Name", "Client", "When", "Download", "Upload", "Error")


def fetch(base: str, path: str, timeout: float) -> dict:
    with urllib.request.urlopen(urljoin(base, path), timeout=timeout) as response:
        return json.load(response)


def rate(bps: float | None) -> str:
    if bps is None:
        return "-"
    return f"{bps / 1e9:.2f} Gbit/s" if bps >= 1e9 else f"{bps / 1e6:.1f} Mbit/s"


def ago(then: float | None, now: float) -> str:
    if then is None:
        return "-"
    seconds = max(0, int(now - then))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def server_state(server: dict | None) -> str:
    if server is None:
        return "-"
    if server.get("state") == "testing" and server.get("client"):
        return f"testing from {printable(server['client'])}"
    return printable(server.get("state", "-"))


def table(rows: list[dict], servers: list[dict], now: float) -> str:
    by_port = {s["port"]: s for s in servers}
    lines = [COLUMNS]
    for row in rows:
        latest = row.get("latest") or {}
        failure = row.get("failure")
        newer_failure = failure if failure and failure["time"] > latest.get("time", 0) else None
        # Names, addresses and errors come from the network: one line each,
        # no terminal control sequences, no more than a screen's width or so.
        lines.append((
            printable(row["port"]),
            server_state(by_port.get(row["port"])),
            printable(latest.get("name") or "-"),
            printable(latest.get("client") or "-"),
            ago(latest.get("time"), now),
            rate(latest.get("download_bps")),
            rate(latest.get("upload_bps")),
            printable(newer_failure["error"]) if newer_failure else "",
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines)


def show_status(options) -> int:
    try:
        servers = fetch(options.url, "api/servers", options.timeout)["servers"]
        rows = fetch(options.url, "api/latest", options.timeout)["rows"]
    except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"webperf3 status: no webperf3 answering at {options.url} ({reason})", file=sys.stderr)
        return ExitStatus.ERROR
    print(table(rows, servers, time.time()))
    return ExitStatus.SUCCESS
