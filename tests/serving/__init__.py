"""webperf3.serving: the web server (waitress) and its request guard under
hostile clients, over real sockets from other loopback addresses."""
