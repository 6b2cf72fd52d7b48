"""scripts/bootstrap, what `make run` and `make test` do first, with apt-get,
dpkg-query, sudo and id replaced by recording stand-ins on PATH (the real ones
would change this machine). The whole script, on real platforms, is what
scripts/check-platform runs; these pin down what each situation prints."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT



def stand_in(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of what bootstrap reads, with a .venv already installed for `run`
    so that nothing reaches PyPI; the stand-ins log their calls to calls.log."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "bootstrap", repo / "scripts" / "bootstrap")
    shutil.copy2(ROOT / "pyproject.toml", repo / "pyproject.toml")
    shutil.copy2(ROOT / "constraints.txt", repo / "constraints.txt")
    (repo / ".venv" / "bin").mkdir(parents=True)
    (repo / ".venv" / "bin" / "python").symlink_to(sys.executable)
    stamp = repo / ".venv" / ".installedrun"
    stamp.touch()
    newest = max(os.path.getmtime(repo / name) for name in ("pyproject.toml", "constraints.txt"))
    os.utime(stamp, (newest + 10,) * 2)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    # Installed: what $INSTALLED names. apt-get: as $APT_UPDATE / $APT_INSTALL say.
    stand_in(bin_dir, "dpkg-query", 'for p in $INSTALLED; do [ "$p" = "$3" ] && { echo "install ok installed"; exit 0; }; done; exit 1\n')
    stand_in(bin_dir, "apt-get", f'echo "apt-get $*" >> {log}\n'
             'case "$*" in *update*) eval "$APT_UPDATE" ;; *install*) eval "$APT_INSTALL" ;; esac\n')  # fmt: skip
    stand_in(bin_dir, "id", 'echo "${FAKE_UID:-0}"\n')
    stand_in(bin_dir, "sudo", f'echo "sudo $*" >> {log}\n[ -n "$SUDO_OK" ] || exit 1\nshift\nexec "$@"\n')
    return repo


def bootstrap(checkout: Path, purpose: str = "run", **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        "PATH": f"{checkout.parent / 'bin'}:{os.environ['PATH']}",
        "HOME": str(checkout.parent),
        "INSTALLED": "python3 python3-venv iperf3",
        "APT_UPDATE": "exit 0",
        "APT_INSTALL": "exit 0",
        **env,
    }
    return subprocess.run(
        ["sh", str(checkout / "scripts" / "bootstrap"), purpose],
        capture_output=True, text=True, env=environ, timeout=60, check=False,
    )  # fmt: skip


def calls(checkout: Path) -> list[str]:
    log = checkout.parent / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_everything_there_means_nothing_to_do(checkout):
    done = bootstrap(checkout)
    assert (done.returncode, done.stderr) == (0, "")
    assert calls(checkout) == []


def test_a_failing_package_index_is_a_warning_and_the_install_goes_on(checkout):
    failing = 'echo "E: Failed to fetch http://example.invalid/dists/x/Release  404  Not Found" >&2; exit 100'
    done = bootstrap(checkout, INSTALLED="python3 python3-venv", APT_UPDATE=failing)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "bootstrap: installing Debian packages (iperf3): iperf3",
        "bootstrap: warning: apt-get update failed for some package sources (going on with the lists it has):",
        "    E: Failed to fetch http://example.invalid/dists/x/Release  404  Not Found",
    ]
    # Each waits up to 10 minutes for a dpkg lock another apt holds (a Pi's
    # first-boot updates) rather than failing at once.
    wait = "-o DPkg::Lock::Timeout=600"
    assert calls(checkout) == [f"apt-get {wait} update -qq", f"apt-get {wait} install -y -qq --no-install-recommends iperf3"]


def test_a_failing_install_stops_with_apt_gets_reason(checkout):
    done = bootstrap(checkout, INSTALLED="python3 python3-venv", APT_INSTALL='echo "E: Unable to locate package iperf3"; exit 100')
    assert done.returncode == 1
    assert done.stderr.splitlines()[-2:] == [
        "    E: Unable to locate package iperf3",
        "bootstrap: could not install iperf3 (above): fix that and try again",
    ]


def test_without_root_or_sudo_it_says_the_one_command_to_run(checkout):
    done = bootstrap(checkout, purpose="test", INSTALLED="python3 python3-venv iperf3 chromium", FAKE_UID="1000")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "bootstrap: webperf3 needs Debian packages (the tests): run  "
        "sudo apt-get install -y fonts-liberation fonts-dejavu-core prometheus libatomic1 zbar-tools iproute2 poppler-utils webkit2gtk-driver xvfb  and try again"
    ]
    assert not any(call.startswith("apt-get") for call in calls(checkout))


def test_through_sudo_when_it_needs_no_password(checkout):
    done = bootstrap(checkout, INSTALLED="python3 python3-venv", FAKE_UID="1000", SUDO_OK="1")
    assert done.returncode == 0, done.stderr
    assert "sudo -n true" in calls(checkout)
    assert "apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends iperf3" in calls(checkout)


def test_python_older_than_3_11_gets_one_line_before_anything_is_installed(checkout, tmp_path):
    shutil.rmtree(checkout / ".venv")
    python39 = tmp_path / "python3.9"
    # Answers the version check as Debian 11's Python would.
    python39.write_text('#!/bin/sh\ncase "$2" in *exit*) exit 1 ;; *) echo 3.9 ;; esac\n')
    python39.chmod(0o755)
    done = bootstrap(checkout, INSTALLED="", PYTHON=str(python39))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"bootstrap: webperf3 needs Python 3.11 or newer and {python39} is 3.9: Debian 11 / Raspberry Pi OS 11 "
        "(legacy) is not supported; use Raspberry Pi OS 12 or 13, or set PYTHON=/path/to/python3.11"
    ]
    assert calls(checkout) == []
    assert not (checkout / ".venv").exists()


# What pip's wheel check (a dry run, wheels only) says when PyPI has no
# wheel for the machine: without constraints; with constraints.txt, as pip
# 26.3 said it in a Debian 13 armhf root (msgspec); and the same without the
# line that names the package, which is all pip says with -q.
_CONFLICT = (
    "ERROR: Cannot install msgspec>=0.19 because these package versions have conflicting dependencies.\n"
    "ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/topics/dependency-resolution/#dealing-with-dependency-conflicts"
)
NO_WHEEL = [
    "ERROR: No matching distribution found for msgspec>=0.19",
    "The conflict is caused by:\n    The user requested msgspec>=0.19\n    The user requested (constraint) msgspec==0.23.0\n\n"
    "Additionally, some packages in these conflicts have no matching distributions available for your environment:\n"
    "    msgspec\n\n" + _CONFLICT,
    _CONFLICT,
]


@pytest.mark.parametrize("said", NO_WHEEL, ids=["plain", "constraints", "constraints-quiet"])
def test_a_dependency_without_a_wheel_installs_the_compiler_first(checkout, said):
    (checkout / ".venv" / ".installedrun").unlink()
    python = checkout / ".venv" / "bin" / "python"
    python.unlink()
    # pip as on a 32-bit Pi: the wheel check fails as pip says; installing works.
    python.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *--dry-run*) printf "%s\\n" "$SAID"; exit 1 ;; *"-m pip"*) echo "pip $*" >> {checkout.parent / "calls.log"}; exit 0 ;; esac\n'
        f'exec {sys.executable} "$@"\n'
    )
    python.chmod(0o755)
    done = bootstrap(checkout, SAID=said)
    assert done.returncode == 0, done.stderr
    machine = os.uname().machine
    assert done.stderr.splitlines() == [
        f"bootstrap: installing Debian packages (to build Python packages that have no wheel for {machine}): build-essential python3-dev"
    ]
    made = calls(checkout)
    compiler = made.index("apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends build-essential python3-dev")
    (install,) = [i for i, call in enumerate(made) if call.startswith("pip ") and " -e ." in call]
    assert compiler < install
    assert "-c constraints.txt" in made[install]


def test_a_test_only_package_the_archive_cannot_serve_skips_its_tests_not_the_suite(checkout):
    """Debian 13's security archive once listed a chromium for armhf whose
    files it did not serve (404) for days: `make test` must go on without it."""
    (checkout / ".venv" / ".installedtest").touch()  # the Python packages are there: nothing reaches PyPI
    newest = max(os.path.getmtime(checkout / name) for name in ("pyproject.toml", "constraints.txt"))
    os.utime(checkout / ".venv" / ".installedtest", (newest + 10,) * 2)
    not_served = (
        'case "$*" in *chromium*) echo "E: Failed to fetch http://deb.example/pool/c/chromium/chromium-common_156_armhf.deb  404  Not Found" >&2; exit 100 ;; esac; exit 0'
    )
    import playwright  # bootstrap asks the venv's python where playwright's Node.js is

    site = str(Path(playwright.__file__).parent.parent)
    done = bootstrap(checkout, purpose="test", APT_INSTALL=not_served, WEBPERF3_IPERF3_SRC=str(checkout / "none"), PYTHONPATH=site)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert "bootstrap: could not install them together: updating the package lists and trying again" in lines
    assert [line for line in lines if line.startswith("bootstrap: could not install chromium")] == [
        "bootstrap: could not install chromium: E: Failed to fetch http://deb.example/pool/c/chromium/chromium-common_156_armhf.deb  404  Not Found;"
        " the tests that need it will be skipped, each saying so"
    ]
    assert not any("could not install" in line and "chromium" not in line and "together" not in line for line in lines)
    made = calls(checkout)
    assert sum("update" in call for call in made) == 2  # once, and once more as apt advises
    for deb in ("fonts-liberation", "fonts-dejavu-core", "prometheus", "libatomic1", "zbar-tools", "iproute2", "poppler-utils", "webkit2gtk-driver", "xvfb"):
        assert f"apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends {deb}" in made  # each on its own


def test_iperf3_stays_mandatory_for_the_tests_too(checkout):
    missing = 'echo "E: Unable to locate package iperf3" >&2; exit 100'
    done = bootstrap(checkout, purpose="test", INSTALLED="python3 python3-venv", APT_INSTALL=missing)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == "bootstrap: could not install iperf3 (above): fix that and try again"
