"""``python -m webperf3``: how the Pi starts the station at boot."""

import sys

from webperf3.cli import main

if __name__ == "__main__":  # importing this module runs nothing
    sys.exit(main())
