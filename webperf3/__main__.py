import sys

from webperf3.cli import main

sys.exit(main())
