"""Everything that knows about iperf3: its JSON log format and its server processes."""
