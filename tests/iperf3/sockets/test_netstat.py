"""Reading /proc/net/tcp and tcp6: the sockets on a port, their states and owners."""

from __future__ import annotations

import os
import socket

import pytest

from webperf3.iperf3.sockets import netstat

# Real lines (x86-64, little-endian) of /proc/net/tcp and tcp6.
TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1451 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 54321 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1451 0100007F:B2A4 01 00000000:00000000 00:00000000 00000000  1000        0 54322 1 0000000000000000 20 4 30 10 -1
   2: 0501A8C0:1452 6401A8C0:D431 06 00000000:00000000 03:0000175B 00000000     0        0 0 3 0000000000000000
"""
TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:B7A3 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 16924 1 000000001589e025 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:B7A3 0000000000000000FFFF00000100007F:BA26 01 00000000:00000000 00:00000000 00000000     0        0 16926 1 000000004d37b6a0 20 0 0 10 -1
   2: B80D0120000000000000000001000000:1451 B80D0120000000000000000002000000:C350 01 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 20 0 0 10 -1
   3: 00000000000000000000000001000000:1451 00000000000000000000000001000000:E000 01 00000000:00000000 00:00000000 00000000     0        0 778 1 0000000000000000 20 0 0 10 -1
"""


def test_parse_proc_net_tcp_ipv4():
    sockets = netstat.parse_proc_net_tcp(TCP, "little")
    assert sockets == [
        netstat.TcpSocket("127.0.0.1", 5201, "0.0.0.0", 0, netstat.LISTEN, 54321),
        netstat.TcpSocket("127.0.0.1", 5201, "127.0.0.1", 45732, netstat.ESTABLISHED, 54322),
        netstat.TcpSocket("192.168.1.5", 5202, "192.168.1.100", 54321, 0x06, 0),
    ]
    assert netstat.established_on(sockets, 5201) == [sockets[1]]
    assert netstat.listening_on(sockets, 5201) == [sockets[0]]
    assert netstat.established_on(sockets, 5202) == []  # TIME_WAIT is no test


def test_parse_proc_net_tcp6_with_v4_mapped_addresses():
    sockets = netstat.parse_proc_net_tcp(TCP6, "little")
    assert [(s.local_host, s.local_port, s.remote_host, s.remote_port, s.state, s.inode) for s in sockets] == [
        ("::", 47011, "::", 0, netstat.LISTEN, 16924),
        ("127.0.0.1", 47011, "127.0.0.1", 47654, netstat.ESTABLISHED, 16926),
        ("2001:db8::1", 5201, "2001:db8::2", 50000, netstat.ESTABLISHED, 777),
        ("::1", 5201, "::1", 57344, netstat.ESTABLISHED, 778),
    ]


def test_parse_address_follows_the_byte_order_the_kernel_wrote():
    assert netstat.parse_address("0100007F:1451", "little") == ("127.0.0.1", 5201)
    assert netstat.parse_address("7F000001:1451", "big") == ("127.0.0.1", 5201)
    assert netstat.parse_address("20010DB8000000000000000000000001:0050", "big") == ("2001:db8::1", 80)
    with pytest.raises(ValueError):
        netstat.parse_address("7F0001:1451")
    assert netstat.parse_line("garbage line") is None


def test_read_tcp_sockets_sees_a_real_listener():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        [found] = netstat.listening_on(netstat.read_tcp_sockets(), port)
        assert found.local_host == "127.0.0.1"
        assert netstat.listener_pid(port) == os.getpid()
