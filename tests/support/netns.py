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
    steps = [
        ["ip", "netns", "add", tag],
        ["ip", "link", "add", host_end, "type", "veth", "peer", "name", client_end],
        ["ip", "link", "set", client_end, "netns", tag],
        ["ip", "addr", "add", f"{server_ip}/30", "dev", host_end],
        ["ip", "link", "set", host_end, "up"],
        ["nsenter", f"--net=/run/netns/{tag}", "ip", "addr", "add", f"{client_ip}/30", "dev", client_end],
        ["nsenter", f"--net=/run/netns/{tag}", "ip", "link", "set", client_end, "up"],
    ]
    try:
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                pytest.skip(f"cannot make a test network namespace here: {' '.join(step)}: {done.stderr.strip()}")
        yield Link(tag, server_ip, client_ip, client_end)
    finally:
        subprocess.run(["ip", "link", "del", host_end], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", tag], capture_output=True, check=False)
