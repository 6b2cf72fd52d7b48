"""constraints.txt: the versions `make run` and `make test` install.

A station set up months after a release must get the packages the tests
passed with, so every dependency is pinned there, inside the range
pyproject.toml declares, and the tests themselves run on those pins.
"""

from __future__ import annotations

import runpy
from importlib import metadata
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from tests.support.paths import ROOT



def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep and version, f"constraints.txt: {line!r} is not an exact pin (name==version)"
        pins[canonicalize_name(name)] = version
    return pins


#: scripts/pin-dependencies: what it pins (pyproject's requirements) and for which Pythons.
PIN = runpy.run_path(str(ROOT / "scripts" / "pin-dependencies"))


def _requirements() -> list[Requirement]:
    return [Requirement(r) for r in PIN["requirements"]()]


def test_every_dependency_is_pinned_inside_the_range_pyproject_allows() -> None:
    pins = _pins()
    for req in _requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not pinned in constraints.txt: run make constraints"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {req.name}=={pins[name]}, outside pyproject.toml's {req}"
        )


def test_the_tests_run_on_the_pinned_versions() -> None:
    pins = _pins()
    off = {
        req.name: (metadata.version(req.name), pins[canonicalize_name(req.name)])
        for req in _requirements()
        if metadata.version(req.name) != pins[canonicalize_name(req.name)]
    }
    assert not off, f"installed vs pinned: {off}; `make test` installs constraints.txt (scripts/bootstrap)"


def test_every_pin_installs_on_the_pythons_of_debian_12_and_13() -> None:
    # A pin made on this machine's newer 3.11 once needed 3.11.5 (soupsieve
    # 4.1.4), and Debian 12 has 3.11.2: make test failed there at pip install.
    pythons = PIN["PYTHONS"]
    assert pythons[0] == "3.11.2"
    refused = {}
    for name, version in _pins().items():
        try:
            needs = metadata.metadata(name).get("Requires-Python") or ""
        except metadata.PackageNotFoundError:
            continue  # pinned for another Python only (3.13's extra needs)
        assert metadata.version(name) == version
        if not_on := [p for p in pythons if not SpecifierSet(needs).contains(p)]:
            refused[f"{name}=={version}"] = (needs, not_on)
    assert not refused, f"pins these Pythons cannot install: {refused}; run make constraints"
