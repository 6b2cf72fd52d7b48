"""What the survey book raises: one type per answer the web layer gives.

Every write either happens whole or not at all: when one of these is raised
nothing was saved and nothing in memory changed.
"""

from __future__ import annotations


class BookError(Exception):
    """Anything the survey book refuses or cannot do; ``str()`` is the message for people."""


class BookInputError(BookError, ValueError):
    """Bad input: an empty or over-long name, an address that is not one, a malformed test id (HTTP 400)."""


class BookNotFound(BookError, LookupError):
    """No such survey (HTTP 404)."""


class BookConflict(BookError):
    """The change makes no sense in the book's state, e.g. undoing the first survey (HTTP 409)."""


class BookWriteError(BookError):
    """The file could not be written (a full disk, a read-only file, an I/O error).
    Nothing was changed; what was saved before is intact (HTTP 503, or 507 when ``disk_full``)."""

    def __init__(self, message: str, *, disk_full: bool = False) -> None:
        super().__init__(message)
        self.disk_full = disk_full


class BookBusy(BookWriteError):
    """Other changes are being saved, or another program holds the file's
    write lock, for longer than a request should wait: try again (HTTP 503)."""


class BookOpenError(BookError):
    """The file cannot be used at all: not a database, another program's, or a newer schema."""
