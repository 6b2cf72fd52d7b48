"""Whole-station scenarios: a real `python -m webperf3` process (its iperf3
servers, signals, ports and what a client sees), or the whole station put
together in one test (fleet, store, web and push on a full disk). What a
single package does is tested beside that package; here, what only the
assembly shows."""
