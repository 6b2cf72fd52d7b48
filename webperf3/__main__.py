import sys

from webperf3.cli.main import main

sys.exit(main())
