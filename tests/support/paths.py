"""Where things are: the checkout, the sample logs, the shipped files.

Every test reaches the repository through these names rather than counting
``Path(__file__).parents``, so a test file can move without a path breaking.
"""

from __future__ import annotations

from pathlib import Path

#: The checkout (the folder with pyproject.toml).
ROOT = Path(__file__).resolve().parents[2]
#: The real iperf3 server logs (see tests/data/README.md).
DATA = ROOT / "tests" / "data"
#: The prototype's 3.10.1 and 3.9 logs.
PROTOTYPE = DATA / "prototype"
