"""The command line: options and subcommands, and nothing that acts on them."""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import (
    DEFAULT_FIRST_PORT,
    DEFAULT_HTTP_PORT,
    DEFAULT_LOG_DIR,
    DEFAULT_MAX_TEST_SECONDS,
    DEFAULT_SERVERS,
    DEFAULT_WS_PORT,
    StationConfig,
    default_station_name,
)

SUBCOMMANDS = ("serve", "export", "install-service", "status", "pair")

DESCRIPTION = """\
Turn this machine into a network-throughput survey station: start N iperf3
servers (ports 5201 upward), record every test any client runs against them,
and serve a live dashboard of the results.
"""

EPILOG = """\
commands:
  serve (default)    run the servers and the dashboard
  export             write every recorded test as CSV, JSON or .xlsx
  install-service    write a systemd unit that starts webperf3 at boot
  status             ask a running webperf3 for its servers and results
  pair               show a QR code that pairs a phone as an admin device; list or revoke them

examples:
  webperf3 --servers 4                  servers on ports 5201-5204, dashboard on :8080
  webperf3 export --log-dir ~/iperf3-logs --output survey.csv
  webperf3 export --output survey.xlsx  an Excel workbook: dates, numbers, filters
  iperf3 -c PI -p 5202 --bidir --extra-data "Room 101"   (on a client)
"""


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line: it goes to journald too."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


#: Ports there are: no count of servers can be more.
MAX_PORT = 65535


def _parsed(text: str, convert, what: str):
    try:
        return convert(text)
    except ValueError:
        shown = text if len(text) <= 40 else text[:39] + "…"  # int() refuses 4301 digits and more
        raise argparse.ArgumentTypeError(f"not {what}: {shown!r}") from None


def port_number(text: str) -> int:
    value = _parsed(text, int, "a port number")
    if not 0 < value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is outside 1-65535")
    return value


def server_count(text: str) -> int:
    value = _parsed(text, int, "a number of servers")
    if value < 0:
        raise argparse.ArgumentTypeError(f"the number of servers cannot be negative ({value})")
    if value > MAX_PORT:
        # Refused here, before anything builds a list of that many ports.
        raise argparse.ArgumentTypeError(f"{value} servers would need more than the {MAX_PORT} ports there are")
    return value


def directory(text: str) -> Path:
    # Path("") is ".": an empty value (an unset variable in a unit file)
    # would quietly use whatever the current directory is.
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: give a directory")
    return Path(text)


def file_path(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: give a file name")
    return Path(text)


def positive_seconds(text: str) -> float:
    value = _parsed(text, float, "a number of seconds")
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds (got {text})")
    return value


def station_name(text: str) -> str:
    # It names the station's series and pages in a fleet: something a person reads.
    name = text.strip()
    if not name:
        raise argparse.ArgumentTypeError("the station name cannot be empty")
    if len(name) > 64:
        raise argparse.ArgumentTypeError(f"the station name is {len(name)} characters long: at most 64, please")
    if any(not c.isprintable() for c in name):
        raise argparse.ArgumentTypeError(f"the station name {name!r} holds control characters")
    return name


def place_label_cap(text: str) -> int:
    value = _parsed(text, int, "a number of places")
    if not 0 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"between 0 and 1000 places, please (got {value})")
    return value


def admin_token(text: str) -> str:
    # Browsers send header values as latin-1 and curl as UTF-8: only ASCII
    # reaches the station the same from both (guard.py refuses the rest).
    if not (text.isascii() and text.isprintable()):
        raise argparse.ArgumentTypeError("an admin token is printable ASCII (letters, digits, punctuation)")
    return text


def _add_log_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-dir",
        type=directory,
        default=DEFAULT_LOG_DIR,
        help="where the iperf3 logs port-P.json live (default: %(default)s)",
    )


def _add_serve_options(parser: argparse.ArgumentParser) -> None:
    fleet = parser.add_argument_group("iperf3 servers")
    fleet.add_argument("--servers", type=server_count, default=None, metavar="N", help=f"how many iperf3 servers to run, one per surveyor (default {DEFAULT_SERVERS}; 0 serves the logs already there)")
    fleet.add_argument("--first-port", type=port_number, default=DEFAULT_FIRST_PORT, metavar="PORT", help="port of the first iperf3 server (default: %(default)s)")
    _add_log_dir(fleet)
    fleet.add_argument("--iperf3", default="iperf3", metavar="PATH", help="the iperf3 program (default: iperf3 on PATH)")
    fleet.add_argument("--iperf3-bind", default=None, metavar="ADDR", help="address the iperf3 servers listen on (default: all)")
    fleet.add_argument("--max-test-seconds", type=positive_seconds, default=DEFAULT_MAX_TEST_SECONDS, metavar="S", help="restart a server whose test has lasted longer (default: %(default)g)")
    web = parser.add_argument_group("dashboard")
    web.add_argument("--host", default="0.0.0.0", help="address the dashboard listens on (default: %(default)s)")
    web.add_argument("--port", type=port_number, default=DEFAULT_HTTP_PORT, help="dashboard port (default: %(default)s)")
    web.add_argument("--ws-port", type=port_number, default=DEFAULT_WS_PORT, metavar="PORT", help="websocket port for live updates (default: %(default)s)")
    web.add_argument("--admin-token", type=admin_token, default=os.environ.get("WEBPERF3_ADMIN_TOKEN"), metavar="TOKEN", help="a token scripts may give (X-Admin-Token) to start surveys and edit tests; with it, unpaired browsers are asked for it (default: $WEBPERF3_ADMIN_TOKEN)")
    web.add_argument("--open", action="store_true", help="let any device on the network start surveys and edit tests, without pairing (a trusted network only)")
    web.add_argument("--allowed-host", action="append", default=[], metavar="NAME", help="a name browsers may reach the dashboard by, besides its addresses, hostname, hostname.local and localhost; .example.org for a whole domain, * for any (repeatable)")
    web.add_argument("--force-polling", action="store_true", help="poll the log directory instead of inotify (network filesystems)")
    metrics = parser.add_argument_group("metrics (GET /metrics, for Prometheus) and the pages' titles")
    # No default here: a unit written without it follows the Pi's hostname if it is renamed.
    metrics.add_argument("--station-name", type=station_name, default=None, metavar="NAME", help=f"this station's name in a fleet and on its pages (default: the hostname, {default_station_name()})")
    metrics.add_argument("--metrics-place-labels", type=place_label_cap, default=0, metavar="N", help="give the current survey's first N places (at most 1000) a series each, labelled by place name (default: 0, none)")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"), help="(default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    """The ``serve`` parser, which is also the top-level one."""
    parser = Parser(
        prog="webperf3",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"webperf3 {__version__}")
    # The prototype was started as `python -m webperf3 10`: keep that working.
    parser.add_argument("legacy_servers", nargs="?", type=server_count, metavar="N", help=argparse.SUPPRESS)
    _add_serve_options(parser)
    _add_common(parser)
    return parser


def build_export_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="webperf3 export", description="Write every recorded test as CSV, JSON or an Excel workbook.")
    _add_log_dir(parser)
    parser.add_argument("--format", choices=("csv", "json", "xlsx"), default=None, help="(default: from the --output file's extension, else csv)")
    parser.add_argument("--output", "-o", type=file_path, default=None, metavar="FILE", help="write here instead of standard output (xlsx: not to a terminal)")
    parser.add_argument("--book", type=file_path, default=None, metavar="FILE", help="the survey book (places, edits, surveys, exclusions), read only (default: webperf3.sqlite3 in the log directory, if there is one)")
    _add_common(parser)
    return parser


def build_install_service_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="webperf3 install-service",
        description="Write a systemd unit that runs `webperf3` with these options at boot.",
    )
    _add_serve_options(parser)
    _add_common(parser)
    parser.add_argument("--print", dest="print_only", action="store_true", help="print the unit instead of writing it")
    parser.add_argument("--unit-path", type=file_path, default=Path("/etc/systemd/system/webperf3.service"), metavar="FILE", help="(default: %(default)s)")
    return parser


def build_status_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="webperf3 status", description="Show a running webperf3's servers and latest results.")
    parser.add_argument("--url", default="http://127.0.0.1:8080/", help="the dashboard's address (default: %(default)s)")
    parser.add_argument("--timeout", type=positive_seconds, default=5.0, metavar="S")
    _add_common(parser)
    return parser


def build_pair_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="webperf3 pair",
        description="Show a QR code that pairs a phone as an admin device of the station on this machine "
        "(it may then start surveys and edit tests): good once, for 10 minutes. Or list or revoke the paired devices.",
    )
    _add_log_dir(parser)
    parser.add_argument("--url", default=None, metavar="URL", help="the station's page as phones reach it (default: http://ADDRESS:8080/, this machine's first address)")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--list", dest="list_devices", action="store_true", help="list the paired devices")
    action.add_argument("--revoke", default=None, metavar="ID|all", help="revoke a paired device (its id from --list), or all of them")
    _add_common(parser)
    return parser


PARSERS = {
    "serve": build_parser,
    "export": build_export_parser,
    "install-service": build_install_service_parser,
    "status": build_status_parser,
    "pair": build_pair_parser,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceOptions(StationConfig):
    """``webperf3 install-service``: the station's options for the unit, and where it goes."""

    print_only: bool = False
    unit_path: Path = Path("/etc/systemd/system/webperf3.service")


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportOptions:
    """``webperf3 export``."""

    log_dir: Path
    format: str | None  # None: from the output file's extension
    output: Path | None  # None: standard output
    book: Path | None = None  # None: the one in log_dir, if any
    log_level: str = "info"


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusOptions:
    """``webperf3 status``."""

    url: str
    timeout: float
    log_level: str = "info"


@dataclass(frozen=True, slots=True, kw_only=True)
class PairOptions:
    """``webperf3 pair``."""

    log_dir: Path
    url: str | None  # None: http://<this machine's first address>:8080/
    list_devices: bool = False
    revoke: str | None = None  # a device's id, or "all"
    log_level: str = "info"


Options = StationConfig | ServiceOptions | ExportOptions | StatusOptions | PairOptions
TYPES: dict[str, type] = {"serve": StationConfig, "install-service": ServiceOptions, "export": ExportOptions, "status": StatusOptions, "pair": PairOptions}


def _typed(kind: type, namespace: argparse.Namespace) -> Any:
    values = {f.name: getattr(namespace, f.name) for f in dataclasses.fields(kind)}
    if "allowed_host" in values:
        values["allowed_host"] = tuple(values["allowed_host"])
    return kind(**values)


def parse(argv: list[str]) -> tuple[str, Options]:
    """(command, its options, typed and frozen); argparse exits with status 2 on bad options."""
    command = argv[0] if argv and argv[0] in SUBCOMMANDS else "serve"
    rest = argv[1:] if argv and argv[0] in SUBCOMMANDS else argv
    options = PARSERS[command]().parse_args(rest)
    if command == "serve" and options.station_name is None:
        options.station_name = default_station_name()
    if command == "serve":
        if options.legacy_servers is not None and options.servers is not None:
            build_parser().error("give the number of servers once: N or --servers N")
        options.servers = options.servers if options.servers is not None else (options.legacy_servers if options.legacy_servers is not None else DEFAULT_SERVERS)
    elif command == "install-service" and options.servers is None:
        options.servers = DEFAULT_SERVERS
    if command in ("serve", "install-service"):
        last = options.first_port + options.servers - 1
        if last > MAX_PORT:
            PARSERS[command]().error(f"{options.servers} servers from port {options.first_port} would go past port {MAX_PORT} (the last would be {last})")
    if hasattr(options, "log_dir") and command != "install-service":
        # install-service expands ~ to the service user's home, not ours.
        options.log_dir = options.log_dir.expanduser()
    if getattr(options, "book", None) is not None:
        options.book = options.book.expanduser()
    return command, _typed(TYPES[command], options)
