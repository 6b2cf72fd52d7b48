"""webperf3: a Raspberry Pi network-throughput survey station built on iperf3."""

__version__ = "0.1.0"
