"""``webperf3 status``: ask a running webperf3 for its servers and latest results."""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urljoin

from .exitstatus import ExitStatus
from .options import StatusOptions
from ..text import printable

# Named for the side that measured each rate: an iperf3 server's log holds
# only what the station sent (download) and received (upload).
COLUMNS = ("Port", "Server", "Place", "Client", "When", "Download (sent)", "Upload (received)", "Error")


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
        return f"testing from {printable(server['client'])}{live(server.get('progress'))}"
    return printable(server.get("state", "-"))


def live(progress: dict | None) -> str:
    """`` (12 s, up 94.1 Mbit/s)``: a running test's latest figures, if any.

    A UDP download is what the station sent: said so, never as received.
    """
    if not progress:
        return ""
    parts = [f"{progress.get('elapsed') or 0:.0f} s"]
    if progress.get("upload_bps") is not None:
        parts.append(f"up {rate(progress['upload_bps'])}")
    if progress.get("download_bps") is not None:
        sent = " sent" if progress.get("download_measured_by") == "station" else ""
        parts.append(f"down {rate(progress['download_bps'])}{sent}")
    if len(parts) == 1 and progress.get("protocol") == "UDP":
        parts.append("UDP test running")
    return f" ({', '.join(parts)})"


def table(rows: list[dict], servers: list[dict], now: float) -> str:
    """One line per port describing its newest test. When that test failed,
    the line is the failed test's own (name, client, time, error) and the
    last good test's rates follow on a line of their own that names it: a
    failure never shows under another test's name."""
    by_port = {s["port"]: s for s in servers}
    lines: list[tuple[str, ...] | str] = [COLUMNS]
    for row in rows:
        latest = row.get("latest")
        failure = row.get("failure")
        failed = failure is not None and (latest is None or failure["time"] >= latest["time"])
        shown = (failure if failed else latest) or {}
        # Names, addresses and errors come from the network: one line each,
        # no terminal control sequences, no more than a screen's width or so.
        lines.append((
            printable(row["port"]),
            server_state(by_port.get(row["port"])),
            printable(place(shown) or "-"),
            printable(shown.get("client") or "-"),
            ago(shown.get("time"), now),
            "-" if failed else download(shown),
            "-" if failed else rate(shown.get("upload_bps")),
            error_text(shown) if failed else "",
        ))
        if failed and latest:
            name = printable(place(latest)) if place(latest) else "(no place)"
            lines.append(
                f"      last good test on port {row['port']}: {name} from {printable(latest.get('client') or '-')}, "
                f"{ago(latest.get('time'), now)}: download {download(latest)}, upload {rate(latest.get('upload_bps'))}"
            )
    widths = [max(len(line[i]) for line in lines if isinstance(line, tuple)) for i in range(len(COLUMNS))]
    return "\n".join(
        line if isinstance(line, str) else "  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines
    )


def place(result: dict) -> str | None:
    """The test's place as every page shows it (an edit, the client's
    --extra-data, or the place its address named in a browser): the API's
    ``place``; a station from before places only had the ``name``."""
    return result["place"] if "place" in result else result.get("name")


def error_text(result: dict) -> str:
    """The error in plain words where webperf3 knows it, else iperf3's own."""
    return printable(result.get("error_plain") or result.get("error") or "failed")


def download(result: dict) -> str:
    """A download rate, marked when it is what the client received."""
    text = rate(result.get("download_bps"))
    return f"{text} (client)" if text != "-" and result.get("download_measured_by") == "client" else text


def show_status(options: StatusOptions) -> int:
    try:
        servers = fetch(options.url, "api/servers", options.timeout)["servers"]
        rows = fetch(options.url, "api/latest", options.timeout)["rows"]
    except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"webperf3 status: no webperf3 answering at {options.url} ({reason})", file=sys.stderr)
        return ExitStatus.ERROR
    print(table(rows, servers, time.time()))
    return ExitStatus.SUCCESS
