"""``webperf3 install-service``."""

from __future__ import annotations

import os
import pwd
import shutil
import uuid
from pathlib import Path
import subprocess
import sys

import pytest

from webperf3.cli import options as opts
from webperf3.cli.service import unit_text


def unit_for(*argv: str, user: str = "daemon") -> str:
    _, options = opts.parse(["install-service", *argv])
    return unit_text(options, user=user)


def test_unit_runs_this_interpreter_with_the_same_options(tmp_path):
    unit = unit_for("--servers", "6", "--log-dir", str(tmp_path), "--port", "8081", "--first-port", "5301")
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert exec_start.startswith(f"ExecStart={sys.executable} -m webperf3 --servers 6 --first-port 5301")
    assert f"--log-dir {tmp_path}" in exec_start and "--port 8081" in exec_start
    assert "User=daemon" in unit and "Restart=on-failure" in unit and "WantedBy=multi-user.target" in unit
    assert "AmbientCapabilities" not in unit


def test_fleet_and_network_options_reach_the_unit_and_the_station_parses_them_back(tmp_path):
    given = ["--station-name", "pi-lab 3", "--metrics-place-labels", "50", "--allowed-host", "survey.example.org", "--allowed-host", ".lab.example", "--open"]
    exec_start = next(line for line in unit_for("--log-dir", str(tmp_path), *given).splitlines() if line.startswith("ExecStart="))
    import shlex

    argv = shlex.split(exec_start.removeprefix("ExecStart="))
    _, served = opts.parse(argv[3:])  # what systemd will start, as the station reads it
    assert served.station_name == "pi-lab 3" and served.metrics_place_labels == 50
    assert served.allowed_host == ("survey.example.org", ".lab.example")
    assert served.open is True  # a trusted network's station stays open after a reboot
    assert opts.parse(["--servers", "1"])[1].open is False


def test_without_a_station_name_the_unit_follows_the_hostname():
    # A Pi renamed after install keeps its new name in the fleet.
    assert "--station-name" not in unit_for()
    assert opts.parse([])[1].station_name


def test_a_privileged_port_gets_the_capability():
    assert "AmbientCapabilities=CAP_NET_BIND_SERVICE" in unit_for("--port", "80")


def test_the_admin_token_is_not_on_the_command_line():
    unit = unit_for("--admin-token", "s3cret")
    assert "Environment=WEBPERF3_ADMIN_TOKEN=s3cret" in unit
    assert "s3cret" not in next(line for line in unit.splitlines() if line.startswith("ExecStart="))


def run(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "webperf3", "install-service", *argv], capture_output=True, text=True, timeout=30,
                          env={**os.environ, **(env or {})})


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_printed_unit_passes_systemd_analyze_verify(tmp_path):
    done = run("--print", "--servers", "3", "--log-dir", str(tmp_path))
    assert done.returncode == 0
    unit = tmp_path / "webperf3.service"
    unit.write_text(done.stdout)
    verified = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0, verified.stderr


def test_install_writes_the_unit_and_says_how_to_enable_it(tmp_path):
    target = tmp_path / "webperf3.service"
    done = run("--servers", "2", "--unit-path", str(target))
    assert done.returncode == 0
    assert target.read_text().startswith("[Unit]")
    assert "sudo systemctl daemon-reload && sudo systemctl enable --now webperf3" in done.stdout


def test_install_where_it_cannot_write_says_what_to_do(tmp_path):
    done = run("--unit-path", str(tmp_path / "missing" / "webperf3.service"))
    assert done.returncode == 1
    assert "cannot write" in done.stderr and "sudo tee" in done.stderr


def exec_start(unit: str) -> str:
    return next(line for line in unit.splitlines() if line.startswith("ExecStart="))


def test_the_default_log_dir_is_in_the_service_users_home_not_roots():
    # `sudo webperf3 install-service`: HOME is /root, the service runs as the
    # user who typed sudo, who cannot even enter /root.
    unit = unit_for(user="daemon")
    assert f"--log-dir {pwd.getpwnam('daemon').pw_dir}/iperf3-logs " in exec_start(unit)
    assert "--log-dir /root" not in unit
    assert f"--log-dir {Path.home()}/elsewhere " in exec_start(unit_for("--log-dir", f"{Path.home()}/elsewhere"))
    assert "--log-dir /usr/sbin/x " in exec_start(unit_for("--log-dir", "~/x"))  # ~ unexpanded by a shell: theirs too


def test_an_unknown_user_is_refused(tmp_path):
    done = run("--unit-path", str(tmp_path / "u.service"), env={"SUDO_USER": "no-such-user-webperf3"})
    assert done.returncode == 2 and done.stderr.strip() == "webperf3 install-service: there is no user 'no-such-user-webperf3' on this machine"
    assert not (tmp_path / "u.service").exists()


@pytest.fixture
def throwaway_user():
    """A real user with a home of their own, removed afterwards (the tests run as root)."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("needs root and useradd")
    name = f"wp3t{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--create-home", "--shell", "/usr/sbin/nologin", name], check=True, timeout=30)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", "--remove", name], check=False, capture_output=True, timeout=30)


def test_sudo_install_service_gives_the_invoking_user_a_log_dir_they_can_write(throwaway_user, tmp_path):
    user = throwaway_user
    target = tmp_path / "webperf3.service"
    done = run("--servers", "2", "--unit-path", str(target), env={"SUDO_USER": user.pw_name, "HOME": "/root"})
    assert done.returncode == 0, done.stderr
    logs = Path(user.pw_dir) / "iperf3-logs"
    unit = target.read_text()
    assert f"User={user.pw_name}" in unit and f"--log-dir {logs} " in exec_start(unit)
    assert f"logs in {logs}" in done.stdout and done.stderr == ""
    st = logs.stat()
    assert (st.st_uid, st.st_gid) == (user.pw_uid, user.pw_gid)
    # And the user really can write there, as the service will.
    probe = subprocess.run(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
                            "touch", str(logs / "port-5201.json")], capture_output=True, text=True, timeout=30)
    assert probe.returncode == 0, probe.stderr


def test_a_log_dir_the_user_cannot_write_is_made_theirs_when_new_and_warned_about_when_not(throwaway_user, tmp_path):
    user = throwaway_user
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)  # root's, as /srv or /var/log would be
    new = shared / "survey" / "logs"
    done = run("--log-dir", str(new), "--unit-path", str(tmp_path / "a.service"), env={"SUDO_USER": user.pw_name})
    assert done.returncode == 0 and done.stderr == ""
    assert new.stat().st_uid == (new.parent.stat().st_uid) == user.pw_uid  # every directory it made
    assert shared.stat().st_uid == 0  # not one it did not make
    done = run("--log-dir", str(shared), "--unit-path", str(tmp_path / "b.service"), env={"SUDO_USER": user.pw_name})
    assert done.returncode == 0
    assert done.stderr.strip() == (f"webperf3 install-service: warning: {user.pw_name} cannot write {shared}: the service will not"
                                   f" start until they can (sudo chown {user.pw_name} {shared})")


def test_the_unit_is_webperf3_service_as_systemctl_and_journalctl_are_told():
    _, options = opts.parse(["install-service"])
    assert options.unit_path == Path("/etc/systemd/system/webperf3.service")
