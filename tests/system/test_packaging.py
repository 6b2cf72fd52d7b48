"""What `pip install webperf3` (not editable) puts on a Pi: every file the
package needs at run time, and a station that serves its pages from it.

The editable install the tests otherwise use reads the checkout, so a
template or a static file left out of the package data would pass every
other test and break the first real install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.support.paths import ROOT
from tests.support.station import Station

PACKAGE = ROOT / "webperf3"


def _package_files() -> set[str]:
    return {
        path.relative_to(ROOT).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy, so the build's egg-info and build/ never land in the checkout.
    src = tmp_path_factory.mktemp("src")
    shutil.copytree(PACKAGE, src / "webperf3", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(src)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (built,) = out.glob("webperf3-*.whl")
    return built


def test_the_wheel_holds_every_file_of_the_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        packed = {name for name in archive.namelist() if name.startswith("webperf3/")}
    missing = sorted(_package_files() - packed)
    assert not missing, f"left out of the wheel: {missing}"


def test_a_station_installed_from_the_wheel_serves_its_pages(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile", "--target", str(target), str(wheel)],
        check=True, capture_output=True, timeout=300,
    )
    # The installed copy first on the path, the venv's dependencies after it;
    # run from tmp_path so the checkout's own package is not the one imported.
    imported = subprocess.run(
        [sys.executable, "-c", "import webperf3; print(webperf3.__file__)"],
        capture_output=True, text=True, check=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(target)},
    ).stdout
    assert imported.startswith(str(target)), imported
    with Station(tmp_path / "logs", servers=0, cwd=tmp_path, pythonpath=target) as station:
        for path in ("/", "/static/js/dashboard.js", "/static/vendor/uplot/uPlot.esm.js"):
            with urllib.request.urlopen(station.url + path.lstrip("/"), timeout=10) as answer:
                assert answer.status == 200, path
