"""The live push: the websocket server (:mod:`.server`), the log watcher that
feeds the store (:mod:`.watch`), what the push says (:mod:`.messages`) and
what each client may cost (:mod:`.outbox`)."""

from .server import LiveServer

__all__ = ["LiveServer"]
