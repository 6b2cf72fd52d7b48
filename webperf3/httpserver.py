"""Serving a WSGI app: :class:`WebServer` runs it under waitress in a thread.

Bottle's own default server (wsgiref) is single-threaded: one slow phone
would freeze every other browser.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import waitress
from waitress import wasyncore
from waitress.trigger import trigger as WaitressTrigger

log = logging.getLogger(__name__)


class WebServer:
    """A WSGI app under waitress, in a background thread, stoppable.

    ``start()`` binds in the caller's thread, so "address in use" raises
    there; ``port`` is then the actual port (useful with port 0).
    """

    def __init__(self, app: Callable, host: str, port: int, threads: int = 8) -> None:
        self.app = app
        self.host = host
        self._port = port
        self.threads = threads
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        server = self._server
        if server is None:
            return self._port
        listen = getattr(server, "effective_listen", None)  # several sockets ("localhost")
        return int(listen[0][1]) if listen else int(server.effective_port)

    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}/"

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the web server is already running")
        self._server = waitress.create_server(
            self.app, host=self.host, port=self._port, threads=self.threads, ident="webperf3"
        )
        self._thread = threading.Thread(target=self._server.run, name="webperf3-web", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 3) -> None:
        """Close every socket from inside waitress's loop, then its workers."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        sockets = getattr(server, "_map", None) or server.map
        trigger = next((d for d in list(sockets.values()) if isinstance(d, WaitressTrigger)), None)
        if trigger is not None and thread.is_alive():
            # Closing from this thread would race the loop's select(); the
            # trigger runs the close in the loop's own thread, and the loop
            # ends once its socket map is empty.
            trigger.pull_trigger(lambda: wasyncore.close_all(sockets, ignore_all=True))
            thread.join(timeout)
        if thread.is_alive():
            log.warning("web server loop did not stop within %ss; closing its sockets from here", timeout)
            wasyncore.close_all(sockets, ignore_all=True)
            thread.join(timeout)
        server.task_dispatcher.shutdown(timeout=timeout)

    def __enter__(self) -> WebServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
