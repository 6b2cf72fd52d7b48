"""``webperf3 install-service``: a systemd unit that starts webperf3 at boot."""

from __future__ import annotations

import dataclasses
import getpass
import os
import pwd
import shlex
import shutil
import stat
import sys
from pathlib import Path

from ..config import StationConfig
from .exitstatus import ExitStatus
from .options import ServiceOptions

UNIT_NAME = "webperf3.service"


def service_user() -> str:
    # Under sudo the service should run as the person who asked, not root.
    return os.environ.get("SUDO_USER") or getpass.getuser()


class NoSuchUser(LookupError):
    """The service's user is not a user of this machine."""


def home_of(user: str) -> Path:
    try:
        return Path(pwd.getpwnam(user).pw_dir)
    except KeyError:
        raise NoSuchUser(f"there is no user {user!r} on this machine") from None


def log_dir_for(log_dir: Path | str, user: str) -> Path:
    """The log directory as the service's user will see it, absolute.

    ``~`` is that user's home, not the home of whoever runs this: under
    ``sudo`` that would be /root, a directory the service's user cannot
    even enter. (The parser leaves ``~`` alone for this subcommand.)
    """
    text = str(log_dir)
    if text == "~" or text.startswith("~/"):
        return home_of(user) / text[2:]
    return Path(os.path.expanduser(text)).absolute()  # ~other/... is other's home already


def command_line(options: StationConfig, user: str | None = None) -> list[str]:
    """The same options as given, spelled out, with absolute paths."""
    log_dir = log_dir_for(options.log_dir, user or service_user())
    argv = [sys.executable, "-m", "webperf3", "--servers", str(options.servers)]
    argv += ["--first-port", str(options.first_port), "--log-dir", str(log_dir)]
    argv += ["--host", options.host, "--port", str(options.port), "--ws-port", str(options.ws_port)]
    # systemd's PATH is not the login shell's: name iperf3 by its full path.
    iperf3 = shutil.which(options.iperf3) or options.iperf3
    argv += ["--iperf3", iperf3, "--max-test-seconds", f"{options.max_test_seconds:g}"]
    if options.iperf3_bind:
        argv += ["--iperf3-bind", options.iperf3_bind]
    if options.force_polling:
        argv.append("--force-polling")
    if options.open:
        argv.append("--open")
    for name in options.allowed_host:
        argv += ["--allowed-host", name]
    if options.station_name is not None:
        argv += ["--station-name", options.station_name]
    if options.metrics_place_labels:
        argv += ["--metrics-place-labels", str(options.metrics_place_labels)]
    argv += ["--log-level", options.log_level]
    return argv


def unit_text(options: ServiceOptions, user: str | None = None) -> str:
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
        f"ExecStart={shlex.join(command_line(options, user))}",
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


def prepare_log_dir(path: Path, user: str) -> str | None:
    """Create *path* for the service's *user*: every directory made here is
    theirs (made by root under sudo, it would be root's, and the service
    could not write its logs). An existing one is left as it is; the answer
    is then a warning when *user* cannot write it, else None."""
    account = pwd.getpwnam(user)
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0 and account.pw_uid != 0:
        for made in missing:
            os.chown(made, account.pw_uid, account.pw_gid)
    if not missing and not _can_write(path, account):
        return f"{user} cannot write {path}: the service will not start until they can (sudo chown {user} {path})"
    return None


def _can_write(path: Path, account: pwd.struct_passwd) -> bool:
    if account.pw_uid == 0:
        return True
    st = path.stat()
    if st.st_uid == account.pw_uid:
        return bool(st.st_mode & stat.S_IWUSR and st.st_mode & stat.S_IXUSR)
    if st.st_gid in os.getgrouplist(account.pw_name, account.pw_gid):
        return bool(st.st_mode & stat.S_IWGRP and st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IWOTH and st.st_mode & stat.S_IXOTH)


def install_service(options: ServiceOptions) -> int:
    user = service_user()
    try:
        home_of(user)
        options = dataclasses.replace(options, log_dir=log_dir_for(options.log_dir, user))
    except NoSuchUser as exc:
        print(f"webperf3 install-service: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    text = unit_text(options, user)
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
    try:
        warning = prepare_log_dir(options.log_dir, user)
    except OSError as exc:
        warning = f"cannot create {options.log_dir} for {user}: {exc.strerror or exc}"
    if warning:
        print(f"webperf3 install-service: warning: {warning}", file=sys.stderr)
    print(f"wrote {path}, logs in {options.log_dir}\nstart it now and at every boot with:\n  sudo systemctl daemon-reload && sudo systemctl enable --now {path.stem}")
    return ExitStatus.SUCCESS
