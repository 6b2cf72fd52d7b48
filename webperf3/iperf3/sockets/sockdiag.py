"""The kernel's own answer to "which sockets are on these ports, and how many
bytes have they moved": Linux's sock_diag netlink interface (what ``ss`` uses).

One request per address family asks for the TCP (or UDP) sockets whose
local port lies in a range, in the given states, with their ``tcp_info``;
the kernel filters by port itself (a two-instruction inet_diag bytecode), so
the answer costs the same however many other sockets the machine has. From
``tcp_info`` two counters matter: ``tcpi_bytes_received`` (bytes the peer
sent us, i.e. an iperf3 upload) and ``tcpi_bytes_acked`` (bytes we sent that
the peer acknowledged, i.e. what an iperf3 download's client has received).
Both exist since Linux 4.1 and are read the same on 32- and 64-bit kernels
(``tcp_info`` has no padding that differs between them).

Pure Python: ``socket.AF_NETLINK`` and ``struct``, no new dependency. The
encoders and the decoder are pure functions, tested with bytes; :class:`SockDiag`
is the thin I/O around them. Where netlink is missing (macOS, Windows) or
refused (a sandbox), :class:`SockDiag` raises :class:`SockDiagError` with
the reason and callers fall back to /proc/net/tcp (:mod:`.netstat`).
"""

from __future__ import annotations

import errno
import ipaddress
import itertools
import os
import socket
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

NETLINK_SOCK_DIAG = 4  # include/uapi/linux/netlink.h (Python names it only on some builds)
SOCK_DIAG_BY_FAMILY = 20
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x01
NLM_F_DUMP = 0x300  # NLM_F_ROOT | NLM_F_MATCH
INET_DIAG_INFO = 2  # the attribute holding struct tcp_info
INET_DIAG_REQ_BYTECODE = 1
INET_DIAG_BC_S_GE = 2
INET_DIAG_BC_S_LE = 3

#: include/net/tcp_states.h; a connected UDP socket reports ESTABLISHED too.
ESTABLISHED = 1
LISTEN = 10

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_REQ_HEAD = struct.Struct("=BBBBI")  # family, protocol, ext, pad, states
_RTATTR = struct.Struct("=HH")  # len, type
_PORTS = struct.Struct("!HH")  # sport, dport: network order
_MSG_HEAD = struct.Struct("=BBBB")  # family, state, timer, retrans
_MSG_TAIL = struct.Struct("=I2I5I")  # if, cookie[2]; expires, rqueue, wqueue, uid, inode
_BC_OP = struct.Struct("=BBH")  # code, yes, no
_COUNTERS = struct.Struct("=QQ")  # tcpi_bytes_acked, tcpi_bytes_received
_COUNTERS_AT = 120  # offsetof(struct tcp_info, tcpi_bytes_acked)
_MSG_LEN = 72  # sizeof(struct inet_diag_msg)
_BUFFER = 1 << 16


class SockDiagError(OSError):
    """sock_diag cannot be used here; ``str()`` says why, for one log line."""


@dataclass(frozen=True, slots=True)
class DiagSocket:
    """One socket as sock_diag reports it."""

    family: int  # socket.AF_INET or AF_INET6 (a dual-stack listener's IPv4 clients are AF_INET6)
    state: int
    local_host: str  # IPv4-mapped IPv6 addresses written as plain IPv4, as netstat.py does
    local_port: int
    remote_host: str
    remote_port: int
    inode: int
    cookie: int  # the kernel's unique id of the socket, stable for its life
    bytes_acked: int | None  # None without tcp_info (UDP, or a kernel before 4.1)
    bytes_received: int | None


# ------------------------------------------------------------ pure encoding


def port_range_bytecode(low: int, high: int) -> bytes:
    """inet_diag bytecode accepting sockets whose local port is in [low, high].

    Each op jumps ``yes`` bytes on a match and ``no`` bytes otherwise; landing
    exactly on the end accepts, jumping 4 past it rejects (the kernel's
    inet_diag_bc_run). A port comparison takes two ops, the second holding
    the port in its ``no`` field.
    """
    if not 0 <= low <= high <= 0xFFFF:
        raise ValueError(f"not a port range: {low}-{high}")
    return b"".join((
        _BC_OP.pack(INET_DIAG_BC_S_GE, 8, 16 + 4), _BC_OP.pack(0, 0, low),
        _BC_OP.pack(INET_DIAG_BC_S_LE, 8, 8 + 4), _BC_OP.pack(0, 0, high),
    ))


def _align4(n: int) -> int:
    return (n + 3) & ~3


def dump_request(family: int, protocol: int, states: int, low: int, high: int, *, info: bool, seq: int = 1) -> bytes:
    """A SOCK_DIAG_BY_FAMILY dump request (struct inet_diag_req_v2 + bytecode).

    *states* is a bit mask of ``1 << state``; *info* asks for tcp_info.
    """
    ext = 1 << (INET_DIAG_INFO - 1) if info else 0
    sockid = bytes(48)  # ignored by a dump: the bytecode filters
    body = _REQ_HEAD.pack(family, protocol, ext, 0, states) + sockid
    bytecode = port_range_bytecode(low, high)
    attr = _RTATTR.pack(_RTATTR.size + len(bytecode), INET_DIAG_REQ_BYTECODE) + bytecode
    payload = body + attr + bytes(_align4(len(attr)) - len(attr))
    header = _NLMSGHDR.pack(_NLMSGHDR.size + len(payload), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
    return header + payload


def _raw(family: int, host: str) -> bytes:
    """A socket's address as sock_diag holds it (16 bytes); the inverse of _host."""
    address = ipaddress.ip_address(host)
    if family == socket.AF_INET:
        return address.packed + bytes(12)
    if address.version == 4:  # an IPv4 client of a dual-stack listener
        return bytes(10) + b"\xff\xff" + address.packed
    return address.packed


def lookup_request(sock: DiagSocket, *, info: bool, seq: int = 1) -> bytes:
    """A request for one known TCP socket's state (no dump: the kernel looks
    it up by its addresses, and answers only if the cookie still matches)."""
    ext = 1 << (INET_DIAG_INFO - 1) if info else 0
    sockid = (_PORTS.pack(sock.local_port, sock.remote_port) + _raw(sock.family, sock.local_host)
              + _raw(sock.family, sock.remote_host) + struct.pack("=III", 0, sock.cookie & 0xFFFFFFFF, sock.cookie >> 32))
    payload = _REQ_HEAD.pack(sock.family, socket.IPPROTO_TCP, ext, 0, 0xFFFFFFFF) + sockid
    header = _NLMSGHDR.pack(_NLMSGHDR.size + len(payload), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, seq, 0)
    return header + payload


# ------------------------------------------------------------ pure decoding


def _host(family: int, raw: bytes) -> str:
    if family == socket.AF_INET:
        return str(ipaddress.IPv4Address(raw[:4]))
    address = ipaddress.IPv6Address(raw)
    return str(address.ipv4_mapped or address)


def _counters(attrs: memoryview) -> tuple[int, int] | None:
    """(bytes_acked, bytes_received) from the message's attributes, if there."""
    pos = 0
    while pos + _RTATTR.size <= len(attrs):
        length, kind = _RTATTR.unpack_from(attrs, pos)
        if length < _RTATTR.size:
            break  # malformed: stop rather than loop
        if kind == INET_DIAG_INFO and length - _RTATTR.size >= _COUNTERS_AT + _COUNTERS.size:
            return _COUNTERS.unpack_from(attrs, pos + _RTATTR.size + _COUNTERS_AT)
        pos += _align4(length)
    return None


def parse_socket(message: memoryview) -> DiagSocket:
    """One struct inet_diag_msg and its attributes (the netlink header removed)."""
    if len(message) < _MSG_LEN:
        raise ValueError(f"inet_diag_msg of {len(message)} bytes, expected {_MSG_LEN}")
    family, state, _, _ = _MSG_HEAD.unpack_from(message, 0)
    sport, dport = _PORTS.unpack_from(message, 4)
    src, dst = bytes(message[8:24]), bytes(message[24:40])
    _, cookie_lo, cookie_hi, _, _, _, _, inode = _MSG_TAIL.unpack_from(message, 40)
    counters = _counters(message[_MSG_LEN:])
    return DiagSocket(
        family=family,
        state=state,
        local_host=_host(family, src),
        local_port=sport,
        remote_host=_host(family, dst),
        remote_port=dport,
        inode=inode,
        cookie=cookie_hi << 32 | cookie_lo,
        bytes_acked=counters[0] if counters else None,
        bytes_received=counters[1] if counters else None,
    )


def parse_messages(data: bytes | memoryview) -> tuple[list[DiagSocket], bool]:
    """The sockets in one netlink read, and whether the dump is done.

    Raises :class:`SockDiagError` for the kernel's error answer (no inet_diag
    module, refused by a security policy).
    """
    view = memoryview(data)
    sockets: list[DiagSocket] = []
    pos = 0
    while pos + _NLMSGHDR.size <= len(view):
        length, kind, _, _, _ = _NLMSGHDR.unpack_from(view, pos)
        if length < _NLMSGHDR.size or pos + length > len(view):
            raise SockDiagError(f"malformed netlink message ({length} bytes at {pos} of {len(view)})")
        body = view[pos + _NLMSGHDR.size : pos + length]
        if kind in (NLMSG_DONE, NLMSG_ERROR):
            # Both carry an int: 0, or minus the errno of a refusal. A dump
            # the kernel cannot make (no diag handler for the protocol) ends
            # with DONE and the error; a bad request gets ERROR.
            code = -struct.unpack_from("=i", body)[0] if len(body) >= 4 else 0
            if code > 0:
                raise SockDiagError(code, f"sock_diag refused: {os.strerror(code)}")
            return sockets, True
        if kind == SOCK_DIAG_BY_FAMILY:
            try:
                sockets.append(parse_socket(body))
            except ValueError as exc:
                raise SockDiagError(f"malformed sock_diag answer: {exc}") from None
        pos += _align4(length)
    return sockets, False


# ------------------------------------------------------------------- I/O


class SockDiag:
    """A netlink socket asking the kernel about sockets; one per thread.

    ``SockDiag()`` raises :class:`SockDiagError` where netlink cannot be had.
    """

    def __init__(self) -> None:
        family = getattr(socket, "AF_NETLINK", None)
        if family is None:
            raise SockDiagError(errno.EAFNOSUPPORT, "this system has no netlink sockets (not Linux)")
        try:
            self._sock = socket.socket(family, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, NETLINK_SOCK_DIAG)
        except OSError as exc:
            raise SockDiagError(exc.errno, f"cannot open a sock_diag netlink socket: {exc.strerror or exc}") from None
        self._buffer = bytearray(_BUFFER)
        self._seq = itertools.count(1)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> SockDiag:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def tcp(self, ports: Iterable[int], states: int = 1 << ESTABLISHED, *, info: bool = True,
            families: Iterable[int] = (socket.AF_INET, socket.AF_INET6)) -> list[DiagSocket]:
        """TCP sockets on *ports* (local), of *families* (IPv4 and IPv6), in *states* (a mask).

        The kernel finds LISTEN sockets in a small table of listeners, every
        other state by walking its whole table of connections, once per
        family: 1-2 ms on a machine with a large table, whatever the ports.
        """
        return self.query(socket.IPPROTO_TCP, ports, states, info, families)

    def udp(self, ports: Iterable[int], states: int = 1 << ESTABLISHED) -> list[DiagSocket]:
        """UDP sockets on *ports*; ESTABLISHED means connected to one peer."""
        return self.query(socket.IPPROTO_UDP, ports, states, False)

    def query(self, protocol: int, ports: Iterable[int], states: int, info: bool,
              families: Iterable[int] = (socket.AF_INET, socket.AF_INET6)) -> list[DiagSocket]:
        """Sockets of *protocol* (an IPPROTO_*) on *ports*, of *families*."""
        wanted = set(ports)
        if not wanted:
            return []
        low, high = min(wanted), max(wanted)
        found: list[DiagSocket] = []
        for family in families:
            found.extend(s for s in self._dump(dump_request(family, protocol, states, low, high, info=info, seq=next(self._seq))) if s.local_port in wanted)
        return found

    def lookup(self, known: Iterable[DiagSocket], *, info: bool = True) -> list[DiagSocket]:
        """Each of *known* (TCP sockets a dump found) as it is now, in
        whatever state (a closed one waits out TIME_WAIT under its cookie);
        those gone, or replaced (another cookie), are left out."""
        found: list[DiagSocket] = []
        for sock in known:
            try:
                self._sock.sendto(lookup_request(sock, info=info, seq=next(self._seq)), (0, 0))
                size = self._sock.recv_into(self._buffer)
                found.extend(parse_messages(memoryview(self._buffer)[:size])[0])
            except SockDiagError as exc:
                if exc.errno not in (errno.ENOENT, errno.ESTALE):
                    raise
            except OSError as exc:
                raise SockDiagError(exc.errno, f"sock_diag failed: {exc.strerror or exc}") from None
        return found

    def _dump(self, request: bytes) -> Iterator[DiagSocket]:
        try:
            self._sock.sendto(request, (0, 0))
            while True:
                size = self._sock.recv_into(self._buffer)
                sockets, done = parse_messages(memoryview(self._buffer)[:size])
                yield from sockets
                if done:
                    return
        except SockDiagError:
            raise
        except OSError as exc:
            raise SockDiagError(exc.errno, f"sock_diag failed: {exc.strerror or exc}") from None
