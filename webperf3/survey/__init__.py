"""The survey book: surveys, places named from the browser, per-test edits
and exclusions, kept in ``<log-dir>/webperf3.sqlite3``, and the rules that
give each test its survey and place.

Use::

    book = SurveyBook.open(log_dir)          # creates / migrates the file, once migrates old clear marks
    book.subscribe(listener)                 # BookChange after every saved change
    view = book.view()                       # immutable snapshot, any thread
    notes = view.annotate_all(store.results())
"""

from .book import KEEP, SurveyBook
from .db import DB_NAME, SCHEMA_VERSION
from .errors import BookBusy, BookConflict, BookError, BookInputError, BookNotFound, BookOpenError, BookWriteError
from .records import Annotation, BookChange, Claim, ClaimOutcome, Edit, PortLatest, Survey, SurveySummary
from .rules import NAT_WINDOW_S, choose_place, parse_result_id, result_id
from .view import BookView

__all__ = [
    "DB_NAME",
    "KEEP",
    "NAT_WINDOW_S",
    "SCHEMA_VERSION",
    "Annotation",
    "BookBusy",
    "BookChange",
    "BookConflict",
    "BookError",
    "BookInputError",
    "BookNotFound",
    "BookOpenError",
    "BookView",
    "BookWriteError",
    "Claim",
    "ClaimOutcome",
    "Edit",
    "PortLatest",
    "Survey",
    "SurveyBook",
    "SurveySummary",
    "choose_place",
    "parse_result_id",
    "result_id",
]
