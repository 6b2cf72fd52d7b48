"""webperf3.ops: health and the Prometheus metrics, checked by promtool and
scraped by a real Prometheus."""
