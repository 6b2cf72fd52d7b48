"""webperf3.iperf3.fleet: the iperf3 servers the station keeps running, their
command lines and ports, and their log files moved, deleted or replaced under
them. Real iperf3 processes on 127.0.0.1 driven through ServerFleet, not a
whole station (that is tests/system/)."""
