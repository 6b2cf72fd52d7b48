"""``webperf3 install-service``."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from webperf3 import options as opts
from webperf3.service import unit_text


def unit_for(*argv: str) -> str:
    _, options = opts.parse(["install-service", *argv])
    return unit_text(options, user="pi")


def test_unit_runs_this_interpreter_with_the_same_options(tmp_path):
    unit = unit_for("--servers", "6", "--log-dir", str(tmp_path), "--port", "8081", "--first-port", "5301")
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert exec_start.startswith(f"ExecStart={sys.executable} -m webperf3 --servers 6 --first-port 5301")
    assert f"--log-dir {tmp_path}" in exec_start and "--port 8081" in exec_start
    assert "User=pi" in unit and "Restart=on-failure" in unit and "WantedBy=multi-user.target" in unit
    assert "AmbientCapabilities" not in unit


def test_a_privileged_port_gets_the_capability():
    assert "AmbientCapabilities=CAP_NET_BIND_SERVICE" in unit_for("--port", "80")


def test_the_admin_token_is_not_on_the_command_line():
    unit = unit_for("--admin-token", "s3cret")
    assert "Environment=WEBPERF3_ADMIN_TOKEN=s3cret" in unit
    assert "s3cret" not in next(line for line in unit.splitlines() if line.startswith("ExecStart="))


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "webperf3", "install-service", *argv], capture_output=True, text=True, timeout=30)


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
