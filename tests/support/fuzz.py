"""What the fuzz tests (tests/iperf3/reader/test_fuzz.py) share with their long runner
(benchmarks/fuzz.py): the hypothesis profiles, and keeping every input that
ever failed under tests/data/fuzz/ so the fuzz tests replay it for good.

CI runs the ``ci`` profile (a few dozen examples per property). The runner
sets ``WEBPERF3_FUZZ=long``: thousands of examples per property, no deadline,
and ``WEBPERF3_FUZZ_SAVE`` names the directory a failing input is written to.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from hypothesis import HealthCheck, settings

from tests.support.paths import DATA

FUZZ_DATA = DATA / "fuzz"

settings.register_profile("ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "long",
    max_examples=int(os.environ.get("WEBPERF3_FUZZ_EXAMPLES", "20000")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    # The long run keeps its own copy of failures (save_failure); the
    # database would only grow in the repository.
    database=None,
)
PROFILE = os.environ.get("WEBPERF3_FUZZ", "ci")


def save_failure(kind: str, case: dict) -> None:
    """Write *case* (JSON-able) to the save directory, named by its content,
    so a failure found at hour one is still there when the run ends."""
    where = os.environ.get("WEBPERF3_FUZZ_SAVE")
    if not where:
        return
    text = json.dumps({"kind": kind, **case}, ensure_ascii=True, sort_keys=True)
    name = f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"
    Path(where).mkdir(parents=True, exist_ok=True)
    (Path(where) / name).write_text(text + "\n")


def saved_cases() -> list[tuple[str, dict]]:
    """Every kept regression case: (file name, case)."""
    if not FUZZ_DATA.is_dir():
        return []
    return [(p.name, json.loads(p.read_text())) for p in sorted(FUZZ_DATA.glob("*.json"))]
