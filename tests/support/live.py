"""A real websocket client of the live push, as a page is one."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from websockets.sync.client import ClientConnection, connect


class Client:
    """A real websocket client (the sync API of ``websockets``) that speaks JSON."""

    def __init__(self, port: int, *, origin: str | None = None, path: str = "/") -> None:
        # websockets 17.1 deprecates calling connect() outside a ``with``.
        self._stack = contextlib.ExitStack()
        self.ws: ClientConnection = self._stack.enter_context(
            connect(
                f"ws://127.0.0.1:{port}{path}",
                origin=origin,  # type: ignore[arg-type]
                open_timeout=5,
                close_timeout=2,
            )
        )

    def next(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next message; TimeoutError if none comes in time."""
        return json.loads(self.ws.recv(timeout))

    def next_of(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        """The next message of this type, skipping others."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.next(max(0.01, deadline - time.monotonic()))
            if message["type"] == kind:
                return message

    def quiet(self, seconds: float) -> list[dict[str, Any]]:
        """Every message that arrives within ``seconds``."""
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                out.append(self.next(left))
            except TimeoutError:
                break
        return out

    def send(self, data: str | bytes) -> None:
        self.ws.send(data)

    def close(self) -> None:
        self._stack.close()


def unsent_queue_unknown() -> str | None:
    """Why the kernel (or emulator) will not say how much of a socket's send
    queue is unsent (SIOCOUTQNSD), else None. qemu-user does not pass that
    ioctl on: there the station counts websockets' own buffer only, as it
    says it does where the kernel cannot tell, and the tests of sockets
    that stopped reading behind one address cannot run."""
    import fcntl
    import socket

    from webperf3.live.outbox import SIOCOUTQNSD

    with socket.create_server(("127.0.0.1", 0)) as listener:
        with socket.create_connection(listener.getsockname()) as client:
            try:
                fcntl.ioctl(client.fileno(), SIOCOUTQNSD, b"\0\0\0\0")
            except OSError as exc:
                return f"this kernel does not say what a socket's send queue holds unsent (SIOCOUTQNSD: {exc.strerror or exc}); qemu-user does not pass it on"
    return None
