"""The names the station answers to: the defence against DNS rebinding.

A page on ``http://rebind.evil.example/`` whose name the attacker then points
at the station's address runs in the victim's browser as "same origin" with
the station: its requests carry ``Host: rebind.evil.example`` and a matching
``Origin``, so an Origin check alone lets them through. Checking ``Host``
stops them.

What is allowed:

* any IP address literal (``192.168.1.20``, ``[fe80::1]``): a browser that
  sends one navigated to that address itself, and an attacker cannot rebind
  an address, so this needs no list of interface addresses and survives a
  new DHCP lease;
* ``localhost`` and any ``*.localhost`` (browsers resolve those to loopback
  themselves, never through DNS);
* this machine's hostname and ``hostname.local`` (mDNS). Not a name found
  by a DNS lookup: at boot, with no network yet, one can take half a minute;
  ``--allowed-host`` names the router's name for the Pi instead;
* whatever the operator adds (``--allowed-host``): a name, ``.example.org``
  for that domain and every name under it, or ``*`` for anything.

A request with no ``Host`` at all is not from a browser and is allowed.
:func:`origin_allowed` is the websocket's other half: a browser's ``Origin``
must name the host it connected to.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit


def host_name(header: str) -> str | None:
    """The host part of a ``Host`` header, lower-cased, without port,
    brackets or trailing dot; None if it is not a well-formed host."""
    if not header or any(c.isspace() or c in "/?#@\\" for c in header):
        return None
    try:
        parts = urlsplit(f"//{header}")
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        return None
    name = parts.hostname
    if not name:
        return None
    return name.rstrip(".") or None


def origin_allowed(origin: str | None, host: str | None) -> bool:
    """Whether a handshake's ``Origin`` names the host the client connected to.

    No Origin: not a browser (a script, a monitor), allowed. Otherwise the
    hostnames must be equal, case-insensitively; ports are ignored because
    the page comes from the web port, not the websocket port. ``null`` (a
    sandboxed frame, a file) and a missing ``Host`` are refused.
    """
    if origin is None:
        return True
    origin_host = _hostname(origin)
    return origin_host is not None and origin_host == _hostname(f"//{host}" if host else None)


def _hostname(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return urlsplit(url).hostname  # lower-cased, IPv6 brackets removed
    except ValueError:  # e.g. an unbalanced "[" in an IPv6 literal
        return None


def is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    return True


def machine_names() -> set[str]:
    """This machine's own names: localhost, its hostname, hostname.local."""
    names = {"localhost"}
    try:
        hostname = socket.gethostname().lower().rstrip(".")
    except OSError:
        hostname = ""
    if hostname and not is_ip_literal(hostname):
        short = hostname.split(".", 1)[0]
        names |= {hostname, short, f"{short}.local"}
    return names


class AllowedHosts:
    """Which ``Host`` headers the station answers (see the module's docstring)."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.any = False
        self.names: set[str] = set()
        self.domains: set[str] = set()  # ".example.org" entries, dot kept
        for raw in names:
            entry = raw.strip().lower().rstrip(".")
            if entry == "*":
                self.any = True
            elif entry.startswith("."):
                self.domains.add(entry)
            elif entry:
                self.names.add(host_name(entry) or entry)

    @classmethod
    def for_this_machine(cls, extra: Iterable[str] = ()) -> AllowedHosts:
        return cls([*sorted(machine_names()), *extra])

    def allows(self, header: str | None) -> bool:
        if header is None or header == "":
            return True  # not a browser: browsers always send Host
        if self.any:
            return True
        name = host_name(header)
        if name is None:
            return False
        if is_ip_literal(name) or name in self.names:
            return True
        if name == "localhost" or name.endswith(".localhost"):
            return True
        return any(name == d[1:] or name.endswith(d) for d in self.domains)

    def __call__(self, header: str | None) -> bool:
        return self.allows(header)

    def describe(self) -> str:
        if self.any:
            return "any name"
        return ", ".join(sorted(self.names | self.domains) + ["any IP address"])
