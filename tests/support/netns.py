"""A test network namespace joined to this one by a veth pair: a client on
another address whose link can be cut, as when a phone walks out of range.

Needs root, ``ip`` (iproute2) and nsenter; :func:`made_link` (the ``link``
fixture of tests/system/conftest.py) skips with the reason where one is
missing, and removes what it made.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.waiting import wait_until


@dataclass
class Link:
    """A test network namespace joined to this one by a veth pair."""

    namespace: str
    server_ip: str
    client_ip: str
    client_end: str

    def run(self, *argv: str) -> list[str]:
        """*argv* run inside the namespace. nsenter rather than `ip netns exec`
        or `ip -n`, which remount / and /sys and so fail where / is no mount
        point (a chroot, as check-platform's)."""
        return ["nsenter", f"--net=/run/netns/{self.namespace}", *argv]

    def cut(self) -> None:
        """The client's end goes down: everything either side sends is lost, silently."""
        subprocess.run(self.run("ip", "link", "set", self.client_end, "down"), check=True)


@contextlib.contextmanager
def made_link() -> Iterator[Link]:
    """A fresh namespace and veth pair on an unused /30 of 10.213.0.0/16,
    removed on leaving; skips the test where they cannot be made."""
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nsenter") is None:
        pytest.skip("a client that vanishes needs a test network namespace: root, ip (iproute2) and nsenter")
    tag = f"wp3v{os.getpid() % 100000}{random.randrange(1000)}"
    taken = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=False).stdout
    while True:  # a /30 of 10.213.0.0/16 that no interface here uses
        net = ipaddress.ip_network(f"10.213.{random.randrange(256)}.{4 * random.randrange(64)}/30")
        server_ip, client_ip = (str(host) for host in net.hosts())
        if f" {server_ip}/" not in taken and f" {client_ip}/" not in taken:
            break
    host_end, client_end = f"{tag}a", f"{tag}b"
    in_client = lambda *argv: ["nsenter", f"--net=/run/netns/{tag}", *argv]  # noqa: E731
    steps = [
        ["ip", "netns", "add", tag],
        ["ip", "link", "add", host_end, "type", "veth", "peer", "name", client_end],
        ["ip", "link", "set", client_end, "netns", tag],
        # No IPv6 link-local address, so none appears after DAD, a second
        # later: a browser in the namespace reads any address change as
        # "network changed" and fails the requests in flight (a page's
        # module then never loads).
        ["ip", "link", "set", host_end, "addrgenmode", "none"],
        in_client("ip", "link", "set", client_end, "addrgenmode", "none"),
        ["ip", "addr", "add", f"{server_ip}/30", "dev", host_end],
        ["ip", "link", "set", host_end, "up"],
        in_client("ip", "addr", "add", f"{client_ip}/30", "dev", client_end),
        in_client("ip", "link", "set", client_end, "up"),
    ]
    try:
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                pytest.skip(f"cannot make a test network namespace here: {' '.join(step)}: {done.stderr.strip()}")
        # The carrier comes up a moment later (the kernel's link watch): the
        # same browser would see that change too.
        wait_until(lambda: _is_up(["ip", "-o", "link", "show", "dev", host_end]) and _is_up(in_client("ip", "-o", "link", "show", "dev", client_end)),
                   10, what=f"the veth pair {host_end}/{client_end} to be up")  # fmt: skip
        yield Link(tag, server_ip, client_ip, client_end)
    finally:
        subprocess.run(["ip", "link", "del", host_end], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", tag], capture_output=True, check=False)


def _is_up(argv: list[str]) -> bool:
    """Whether ``ip -o link show`` says the interface is up, carrier and all."""
    return " state UP " in subprocess.run(argv, capture_output=True, text=True, check=False).stdout


@dataclass
class RoutedLink:
    """A client namespace behind a router namespace: this host ─ router ─
    client. Queues on the router's interfaces hold forwarded packets, as a
    real router's do; a queue on a sender's own interface would not fill (the
    kernel's TCP small queues keep each socket's share of it to about a
    millisecond)."""

    router: Link  # this host ─ router: ``router.client_end`` is the router's side
    client_namespace: str
    client_ip: str
    router_inner: str  # the router's interface toward the client
    client_end: str

    @property
    def server_ip(self) -> str:
        return self.router.server_ip

    def in_router(self, *argv: str) -> list[str]:
        return self.router.run(*argv)

    def run(self, *argv: str) -> list[str]:
        """*argv* run in the client's namespace."""
        return ["nsenter", f"--net=/run/netns/{self.client_namespace}", *argv]


@contextlib.contextmanager
def made_routed_link() -> Iterator[RoutedLink]:
    """:func:`made_link` to a router namespace, and behind it a client
    namespace on a /30 of 10.214.0.0/16, routed both ways; removed on leaving."""
    with made_link() as router:
        tag = f"{router.namespace}c"
        taken = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=False).stdout
        while True:
            net = ipaddress.ip_network(f"10.214.{random.randrange(256)}.{4 * random.randrange(64)}/30")
            inner_ip, client_ip = (str(host) for host in net.hosts())
            if f" {inner_ip}/" not in taken and f" {client_ip}/" not in taken:
                break
        inner, client_end = f"{router.namespace}r", f"{router.namespace}c"
        in_router = lambda *argv: router.run(*argv)  # noqa: E731
        in_client = lambda *argv: ["nsenter", f"--net=/run/netns/{tag}", *argv]  # noqa: E731
        steps = [
            ["ip", "netns", "add", tag],
            in_router("ip", "link", "add", inner, "type", "veth", "peer", "name", client_end),
            in_router("ip", "link", "set", client_end, "netns", tag),
            in_router("ip", "link", "set", inner, "addrgenmode", "none"),  # as made_link, for the same browser
            in_client("ip", "link", "set", client_end, "addrgenmode", "none"),
            in_router("ip", "addr", "add", f"{inner_ip}/30", "dev", inner),
            in_router("ip", "link", "set", inner, "up"),
            in_router("sysctl", "-qw", "net.ipv4.ip_forward=1"),
            in_client("ip", "addr", "add", f"{client_ip}/30", "dev", client_end),
            in_client("ip", "link", "set", client_end, "up"),
            in_client("ip", "link", "set", "lo", "up"),
            in_client("ip", "route", "add", "default", "via", inner_ip),
            ["ip", "route", "add", str(net), "via", router.client_ip],
        ]
        try:
            for step in steps:
                done = subprocess.run(step, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    pytest.skip(f"cannot make a routed test network here: {' '.join(step)}: {done.stderr.strip()}")
            wait_until(lambda: _is_up(in_router("ip", "-o", "link", "show", "dev", inner)) and _is_up(in_client("ip", "-o", "link", "show", "dev", client_end)),
                       10, what=f"the veth pair {inner}/{client_end} to be up")  # fmt: skip
            yield RoutedLink(router, tag, client_ip, inner, client_end)
        finally:
            subprocess.run(["ip", "route", "del", str(net)], capture_output=True, check=False)
            subprocess.run(["ip", "netns", "del", tag], capture_output=True, check=False)
