"""webperf3.iperf3.sockets: what the kernel says about a running test
(sock_diag, /proc/net/tcp, /proc/PID/io) and the live figures made from it."""
