"""What a station was told to be: its configuration, typed and frozen.

The parser (:func:`webperf3.cli.options.parse`) builds a :class:`StationConfig`
once from the command line; the composition root (:mod:`webperf3.station`)
hands each part the fields it needs. Frozen, so no part can change what
another part reads, and typed, so a part names exactly what it uses (an
argparse namespace let any attribute be asked for and quietly be missing).
The defaults live here, beside the fields, and the parser shows them.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

DEFAULT_LOG_DIR = Path("~/iperf3-logs")
#: One port per person walking the building; the same in `make run` and docs/running.md.
DEFAULT_SERVERS = 4
DEFAULT_FIRST_PORT = 5201
DEFAULT_HTTP_PORT = 8080
DEFAULT_WS_PORT = 8765
DEFAULT_MAX_TEST_SECONDS = 300.0


def default_station_name() -> str:
    return socket.gethostname() or "webperf3"


@dataclass(frozen=True, slots=True, kw_only=True)
class StationConfig:
    """``webperf3 [serve]``'s options."""

    # The iperf3 servers.
    servers: int = DEFAULT_SERVERS
    first_port: int = DEFAULT_FIRST_PORT
    log_dir: Path = DEFAULT_LOG_DIR
    iperf3: str = "iperf3"
    iperf3_bind: str | None = None  # None: every address
    max_test_seconds: float = DEFAULT_MAX_TEST_SECONDS
    # The dashboard and its live push.
    host: str = "0.0.0.0"
    port: int = DEFAULT_HTTP_PORT
    ws_port: int = DEFAULT_WS_PORT
    admin_token: str | None = None
    open: bool = False  # --open: no pairing needed to change a survey (a trusted network)
    allowed_host: tuple[str, ...] = ()
    force_polling: bool = False
    # Metrics and the pages' titles. None: the hostname, looked up when used
    # (a unit written without a name follows the Pi if it is renamed).
    station_name: str | None = None
    metrics_place_labels: int = 0
    log_level: str = "info"

    @property
    def ports(self) -> list[int]:
        """The iperf3 servers' ports, in order."""
        return list(range(self.first_port, self.first_port + self.servers))
