"""webperf3.cli: the commands other than serving (export, status,
install-service), as a user runs them. The station itself, started as the
Pi starts it, is in tests/system/."""
