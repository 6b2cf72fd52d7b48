"""sock_diag (webperf3/iperf3/sockets/sockdiag.py) and the fleet's socket view
(webperf3/iperf3/sockets/sampler.py), against the real kernel on 127.0.0.1."""

from __future__ import annotations

import errno
import logging
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.support.iperf3 import IPERF3, sock_diag_refused
from tests.support.ports import free_ports
from tests.support.waiting import wait_until
from webperf3.iperf3.sockets import netstat
from webperf3.iperf3.sockets.sampler import ProgressSampler, Running, SocketWatch, read_io
from webperf3.iperf3.sockets.sockdiag import (
    ESTABLISHED,
    LISTEN,
    NLMSG_DONE,
    NLMSG_ERROR,
    DiagSocket,
    SockDiag,
    SockDiagError,
    dump_request,
    parse_messages,
    port_range_bytecode,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sock_diag is Linux's")

REFUSED = sock_diag_refused() if sys.platform.startswith("linux") else None
needs_sock_diag = pytest.mark.skipif(REFUSED is not None, reason=REFUSED or "")

UNKNOWN_PROTOCOL = 253  # RFC 3692's experimental number: no kernel has a diag handler for it


@pytest.fixture
def diag() -> Iterator[SockDiag]:
    if REFUSED is not None:
        pytest.skip(REFUSED)
    with SockDiag() as d:
        yield d


class Pair:
    """A listener on 127.0.0.1:port and one connection accepted from it."""

    def __init__(self, port: int, family: int = socket.AF_INET) -> None:
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        if family == socket.AF_INET6:  # dual-stack, as iperf3 listens without -B
            self.listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        self.listener.bind(("::" if family == socket.AF_INET6 else "127.0.0.1", port))
        self.listener.listen(4)
        self.client = socket.create_connection(("127.0.0.1", port))
        self.server, _ = self.listener.accept()

    def close(self) -> None:
        for s in (self.client, self.server, self.listener):
            s.close()


@pytest.fixture
def pairs() -> Iterator[list[Pair]]:
    made: list[Pair] = []
    yield made
    for pair in made:
        pair.close()


def receive(sock: socket.socket, count: int) -> None:
    while count:
        count -= len(sock.recv(min(count, 1 << 16)))


def accepted(found: list[DiagSocket], pair: Pair) -> DiagSocket:
    client_port = pair.client.getsockname()[1]
    return next(s for s in found if s.state == ESTABLISHED and s.remote_port == client_port)


# ------------------------------------------------------------ the counters


def test_counters_are_the_bytes_received_and_the_bytes_the_peer_acknowledged(diag, pairs):
    port = free_ports(1)[0]
    pair = Pair(port)
    pairs.append(pair)
    pair.client.sendall(b"x" * 300_000)
    receive(pair.server, 300_000)
    pair.server.sendall(b"y" * 123_456)
    receive(pair.client, 123_456)
    # The client's ACK of the last bytes may still be on its way.
    sock = wait_until(lambda: (s := accepted(diag.tcp([port]), pair)).bytes_acked == 123_456 and s, 5, what="the ack")
    assert sock.bytes_received == 300_000
    assert (sock.local_host, sock.local_port, sock.remote_host) == ("127.0.0.1", port, "127.0.0.1")
    assert sock.family == socket.AF_INET and sock.inode > 0 and sock.cookie > 0


def test_only_the_ports_and_states_asked_for(diag, pairs):
    ports = free_ports(3)
    pairs.extend(Pair(p) for p in ports)
    found = diag.tcp([ports[0], ports[2]])  # the middle one is inside the kernel's range filter
    assert sorted({s.local_port for s in found}) == [ports[0], ports[2]]
    assert all(s.state == ESTABLISHED for s in found) and len(found) == 2
    with_listeners = diag.tcp([ports[1]], 1 << ESTABLISHED | 1 << LISTEN)
    assert sorted(s.state for s in with_listeners) == [ESTABLISHED, LISTEN]
    assert diag.tcp([]) == []


def test_dual_stack_connections_read_as_proc_net_tcp_reads_them(diag, pairs):
    port = free_ports(1)[0]
    try:
        pair = Pair(port, socket.AF_INET6)
    except OSError:
        pytest.skip("IPv6 is disabled here")
    pairs.append(pair)
    ours = {(s.local_host, s.local_port, s.remote_host, s.remote_port, s.state, s.inode) for s in diag.tcp([port], 1 << ESTABLISHED | 1 << LISTEN)}
    theirs = {
        (s.local_host, s.local_port, s.remote_host, s.remote_port, s.state, s.inode)
        for s in netstat.read_tcp_sockets()
        if s.local_port == port and s.state in (ESTABLISHED, LISTEN)
    }
    assert ours == theirs and len(ours) == 2
    assert all(s.family == socket.AF_INET6 for s in diag.tcp([port]))
    assert {s.local_host for s in diag.tcp([port])} == {"127.0.0.1"}  # IPv4-mapped, written as IPv4


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
def test_a_known_connection_is_looked_up_with_its_counters_now_and_gone_once_closed(diag, pairs, family):
    # What the fleet asks four times a second during a test, instead of a
    # dump that walks the kernel's whole table of connections.
    port = free_ports(1)[0]
    try:
        pair = Pair(port, family)
    except OSError:
        pytest.skip("IPv6 is disabled here")
    pairs.append(pair)
    known = accepted(diag.tcp([port]), pair)
    pair.client.sendall(b"x" * 200_000)
    receive(pair.server, 200_000)
    [now] = diag.lookup([known])
    assert (now.cookie, now.remote_port, now.family) == (known.cookie, known.remote_port, family)
    assert now.bytes_received == known.bytes_received + 200_000
    pair.server.close()
    pair.client.close()
    # Closed: gone, or waiting out TCP's last states, no longer ESTABLISHED.
    wait_until(lambda: all(s.state != ESTABLISHED for s in diag.lookup([known])), 5, what="the closed connection ended")


def test_connected_udp_sockets_are_found_and_unconnected_ones_are_not(diag):
    port = free_ports(1)[0]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as bound, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        bound.bind(("127.0.0.1", port))
        assert diag.udp([port]) == []
        peer.bind(("127.0.0.1", 0))
        bound.connect(peer.getsockname())
        (found,) = diag.udp([port])
        assert (found.local_port, found.remote_port, found.bytes_acked) == (port, peer.getsockname()[1], None)


@needs_sock_diag
def test_no_permission_is_needed(pairs):
    """webperf3 runs as a plain user on the Pi: the counters of every socket are still there."""
    if os.geteuid() != 0:
        pytest.skip("needs root to become another user")
    port = free_ports(1)[0]
    pair = Pair(port)
    pairs.append(pair)
    pair.client.sendall(b"z" * 5000)
    receive(pair.server, 5000)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: nobody, asking about root's sockets
        try:
            os.setgid(65534)
            os.setuid(65534)
            with SockDiag() as d:
                os.write(write, str(accepted(d.tcp([port]), pair).bytes_received).encode())
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read) as answer:
        assert answer.read() == "5000" and status == 0


def test_the_kernel_saying_no_is_an_error_with_its_reason(diag):
    with pytest.raises(SockDiagError) as raised:
        diag.query(UNKNOWN_PROTOCOL, [5201], 1 << ESTABLISHED, False)
    assert raised.value.errno == errno.ENOENT and "sock_diag refused" in str(raised.value)
    assert diag.tcp([5201]) is not None  # the socket is still usable


# ------------------------------------------------------------ the encoding


def test_the_port_filter_is_two_comparisons_that_reject_by_jumping_past_the_end():
    code = port_range_bytecode(5201, 5210)
    assert [struct.unpack_from("=BBH", code, i) for i in range(0, 16, 4)] == [(2, 8, 20), (0, 0, 5201), (3, 8, 12), (0, 0, 5210)]
    with pytest.raises(ValueError):
        port_range_bytecode(5210, 5201)
    with pytest.raises(ValueError):
        port_range_bytecode(0, 70000)


def test_a_request_is_a_dump_of_one_family_and_protocol_with_its_filter():
    request = dump_request(socket.AF_INET6, socket.IPPROTO_TCP, 1 << ESTABLISHED, 5201, 5210, info=True, seq=7)
    length, kind, flags, seq, _ = struct.unpack_from("=IHHII", request)
    assert length == len(request) == 16 + 56 + 4 + 16
    assert (kind, flags, seq) == (20, 0x301, 7)
    assert struct.unpack_from("=BBBBI", request, 16) == (socket.AF_INET6, socket.IPPROTO_TCP, 2, 0, 2)


def test_malformed_and_error_answers_are_errors_not_garbage():
    error = struct.pack("=IHHII", 20, NLMSG_ERROR, 0, 1, 0) + struct.pack("=i", -errno.EPERM)
    with pytest.raises(SockDiagError) as raised:
        parse_messages(error)
    assert raised.value.errno == errno.EPERM
    ack = struct.pack("=IHHII", 20, NLMSG_ERROR, 0, 1, 0) + struct.pack("=i", 0)
    assert parse_messages(ack) == ([], True)
    failed_dump = struct.pack("=IHHII", 20, NLMSG_DONE, 2, 1, 0) + struct.pack("=i", -errno.ENOENT)
    with pytest.raises(SockDiagError) as raised:
        parse_messages(failed_dump)
    assert raised.value.errno == errno.ENOENT
    assert parse_messages(struct.pack("=IHHII", 20, NLMSG_DONE, 2, 1, 0) + bytes(4)) == ([], True)
    with pytest.raises(SockDiagError, match="malformed"):
        parse_messages(struct.pack("=IHHII", 400, 20, 0, 1, 0) + bytes(20))
    with pytest.raises(SockDiagError, match="inet_diag_msg of 20 bytes"):
        parse_messages(struct.pack("=IHHII", 36, 20, 0, 1, 0) + bytes(20))  # too short for inet_diag_msg


# ------------------------------------------------------------ the fleet's view


class RefusingDiag(SockDiag):
    """The real kernel, asked something it refuses: as a sandbox without
    inet_diag answers every question."""

    def tcp(self, ports, states=1 << ESTABLISHED, *, info=True):  # type: ignore[override]
        return self.query(UNKNOWN_PROTOCOL, ports, states, info)


@needs_sock_diag
def test_the_watch_reads_sock_diag_with_counters(pairs):
    port = free_ports(1)[0]
    pairs.append(Pair(port))
    watch = SocketWatch([port])
    try:
        found = watch.tcp()
        assert watch.counters and all(isinstance(s, DiagSocket) for s in found)
        assert sorted(s.state for s in found) == [ESTABLISHED, LISTEN]
    finally:
        watch.close()


def test_where_sock_diag_is_refused_the_watch_falls_back_and_says_why_once(pairs, caplog):
    caplog.set_level(logging.WARNING, logger="webperf3.progress")
    port = free_ports(1)[0]
    pair = Pair(port)
    pairs.append(pair)
    watch = SocketWatch([port], diag=RefusingDiag)
    first, second = watch.tcp(), watch.tcp()
    # The kernel's reason (no handler: ENOENT; under qemu-user the socket
    # itself: EPROTONOSUPPORT), said once.
    assert not watch.counters and watch.unavailable
    assert watch.unavailable in REFUSED if REFUSED else "No such file or directory" in watch.unavailable
    for found in (first, second):  # still sees who is testing, from /proc/net/tcp
        assert any(s.local_port == port and s.state == ESTABLISHED for s in found)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and watch.unavailable in warnings[0] and "/proc/PID/io" in warnings[0]
    assert watch.udp([port]) == []
    # The figures then come from the process's I/O: here this one's, writing
    # as iperf3 writes, with write(2) (send(2) is not counted in wchar).
    sampler = ProgressSampler(watch)
    looks = []
    for i in range(6):
        os.write(pair.server.fileno(), b"x" * 100_000)
        pair.client.recv(1 << 20)
        looks.append(sampler.sample({port: Running(0.0, os.getpid())}, watch.tcp(), 1.0 + i * 0.25)[port])
    assert looks[-1].protocol is None  # one connection on the port: the control one, or UDP
    assert looks[-1].download_bps and looks[-1].download_bps >= 100_000 * 8 / 0.25
    assert looks[-1].download_measured_by == "station"


@pytest.mark.parametrize("reverse", [False, True], ids=["upload", "download"])
def test_without_sock_diag_a_real_iperf3_test_still_shows_its_figures(reverse, tmp_path):
    port = free_ports(1)[0]
    server = subprocess.Popen(
        [IPERF3, "-s", "-1", "-p", str(port), "-B", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    watch = SocketWatch([port], diag=RefusingDiag)
    try:
        wait_until(lambda: any(s.local_port == port and s.state == LISTEN for s in watch.tcp()), 5, what="the server")
        client = subprocess.Popen(
            [IPERF3, "-c", "127.0.0.1", "-p", str(port), "-t", "2", "-b", "200M", *(["-R"] if reverse else [])],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        sampler, seen, started = ProgressSampler(watch, "127.0.0.1"), [], time.monotonic()
        while client.poll() is None:
            seen += sampler.sample({port: Running(started, server.pid)}, watch.tcp(), time.monotonic()).values()
            time.sleep(0.25)
        assert client.wait() == 0, client.stdout.read()  # type: ignore[union-attr]
    finally:
        server.kill()
        server.wait()
        watch.close()
    shown = [p for p in seen if (p.download_bps if reverse else p.upload_bps)]
    assert shown, seen
    assert {p.protocol for p in shown} == {"TCP"} and {p.streams for p in shown} == {1}
    rate = sorted(p.download_bps if reverse else p.upload_bps for p in shown)[len(shown) // 2]  # type: ignore[type-var]
    assert 100e6 <= rate <= 300e6, rate  # -b 200M, give or take what an interval catches
    other = [p.upload_bps if reverse else p.download_bps for p in shown]
    assert other == [None] * len(shown)  # the way nothing went is not shown as 0
    assert {p.download_measured_by for p in shown} == ({"station"} if reverse else {None})


def test_the_sampler_asks_nothing_when_no_test_runs():
    class Counting(SockDiag):
        asked = 0

        def query(self, *args, **kwargs):  # type: ignore[override]
            Counting.asked += 1
            return super().query(*args, **kwargs)

    watch = SocketWatch([5201], diag=Counting)
    assert ProgressSampler(watch).sample({}, [], 1.0) == {}
    assert Counting.asked == 0
    watch.close()


def test_io_counters_of_a_process():
    _, wchar = read_io(os.getpid()) or (0, 0)
    with open(os.devnull, "wb", buffering=0) as sink:
        sink.write(b"x" * 10_000)
    assert (read_io(os.getpid()) or (0, 0))[1] >= wchar + 10_000
    assert read_io(2**22 + 1) is None  # no such process
