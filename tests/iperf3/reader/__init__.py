"""webperf3.iperf3.reader: one JSON object -> one Result, and reading logs as
iperf3 appends to them. Against the real logs of every iperf3 version in
tests/data and logs real iperf3 processes write now. test_fuzz.py sits here
whole: its properties start from a log's bytes (the request property shares
its profile and the replay of every input a long run found failing)."""
