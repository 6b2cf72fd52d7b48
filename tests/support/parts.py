"""A dashboard or a live push without a whole station: the book and the board
made here, once, as the station (webperf3/station.py) makes them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bottle

from webperf3.board.join import Board
from webperf3.store.results import ResultsStore
from webperf3.survey import BookOpenError, SurveyBook
from webperf3.web import Dashboard


def book_of(store: ResultsStore, *, readonly: bool = False) -> SurveyBook:
    """The survey book beside the store's logs: writable where the log
    directory is, else read-only (the pages still show)."""
    if not readonly:
        try:
            return SurveyBook.open(store.log_dir)
        except BookOpenError:
            pass
    return SurveyBook.open(store.log_dir, readonly=True)


def board_of(store: ResultsStore, book: SurveyBook | None = None, ports: Callable[[], list[int]] = lambda: [], *, readonly: bool = False) -> Board:
    return Board(store, book or book_of(store, readonly=readonly), ports)


def dashboard_of(store: ResultsStore, *, book: SurveyBook | None = None, board: Board | None = None, **options: Any) -> Dashboard:
    """A :class:`Dashboard` over ``store`` with its book (opened here unless given) and board
    (made here unless given: give the live push's, as the station does, for one table of leases).

    ``open=True`` unless given: admin actions need no pairing (as ``--open``),
    so tests of other things do them as before pairing existed; a test of
    pairing passes ``open=False``. With ``admin_token`` the token is still
    required, as ``--open --admin-token`` does."""
    options.setdefault("open", True)
    book = book or (board.book if board is not None else book_of(store))
    board = board or Board(store, book, options.get("ports", lambda: []))
    return Dashboard(store, book=book, board=board, **options)


def app_of(store: ResultsStore, **options: Any) -> bottle.Bottle:
    """The WSGI app of :func:`dashboard_of`."""
    return dashboard_of(store, **options).app
