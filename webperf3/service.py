"""``webperf3 install-service``: a systemd unit that starts webperf3 at boot."""

from __future__ import annotations

import getpass
import os
import shlex
import shutil
import sys
from pathlib import Path

from .exitstatus import ExitStatus

UNIT_NAME = "webperf3.service"


def service_user() -> str:
    # Under sudo the service should run as the person who asked, not root.
    return os.environ.get("SUDO_USER") or getpass.getuser()


def command_line(options) -> list[str]:
    """The same options as given, spelled out, with absolute paths."""
    argv = [sys.executable, "-m", "webperf3", "--servers", str(options.servers)]
    argv += ["--first-port", str(options.first_port), "--log-dir", str(Path(options.log_dir).absolute())]
    argv += ["--host", options.host, "--port", str(options.port), "--ws-port", str(options.ws_port)]
    # systemd's PATH is not the login shell's: name iperf3 by its full path.
    iperf3 = shutil.which(options.iperf3) or options.iperf3
    argv += ["--iperf3", iperf3, "--max-test-seconds", f"{options.max_test_seconds:g}"]
    if options.iperf3_bind:
        argv += ["--iperf3-bind", options.iperf3_bind]
    if options.force_polling:
        argv.append("--force-polling")
    argv += ["--log-level", options.log_level]
    return argv


def unit_text(options, user: str | None = None) -> str:
    user = user or service_user()
    lines = [
        "[Unit]",
        "Description=webperf3 network-throughput survey station (iperf3 servers and dashboard)",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        f"User={user}",
        f"ExecStart={shlex.join(command_line(options))}",
        "Environment=PYTHONUNBUFFERED=1",
        "Restart=on-failure",
        "RestartSec=5",
        # webperf3 stops its iperf3 children itself within 3 s; then systemd may.
        "TimeoutStopSec=10",
    ]
    if options.admin_token:
        # In the unit's environment, not on the command line where ps shows it.
        lines.append(f"Environment=WEBPERF3_ADMIN_TOKEN={options.admin_token}")
    if options.port < 1024 and user != "root":
        lines.append("AmbientCapabilities=CAP_NET_BIND_SERVICE")
    lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


def install_service(options) -> int:
    text = unit_text(options)
    if options.print_only:
        sys.stdout.write(text)
        return ExitStatus.SUCCESS
    path: Path = options.unit_path
    try:
        path.write_text(text, encoding="utf-8")
        # The admin token is a secret: keep the unit from other users.
        path.chmod(0o600 if options.admin_token else 0o644)
    except OSError as exc:
        print(
            f"webperf3 install-service: cannot write {path}: {exc.strerror or exc}\n"
            f"  run it with sudo, or: webperf3 install-service --print ... | sudo tee {path}",
            file=sys.stderr,
        )
        return ExitStatus.ERROR
    print(f"wrote {path}\nstart it now and at every boot with:\n  sudo systemctl daemon-reload && sudo systemctl enable --now {path.stem}")
    return ExitStatus.SUCCESS
