"""The SQLite file: opening it, its schema and migrations, transactions, loading.

One file, ``<log-dir>/webperf3.sqlite3``, in WAL mode with
``synchronous=FULL``: every commit is on disk before the call returns (a Pi
loses power more often than it crashes), and a crash or a full disk mid-write
leaves the last commit intact. ``PRAGMA user_version`` is the schema version;
:data:`MIGRATIONS` brings an older file up to date, each step one transaction.
``PRAGMA application_id`` marks the file as webperf3's, so a stray database
is refused rather than written into.

Any SQLite tool can open the file (``sqlite3``, ``datasette``); the views
``timeline``, ``named_places`` and ``test_edits`` show it with readable times.
Times are seconds since the epoch (REAL).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BookOpenError, BookWriteError
from .plans import Plan, Spot, create_tables, load_plans
from .records import Claim, Edit, Segment, Survey

log = logging.getLogger(__name__)

DB_NAME = "webperf3.sqlite3"
APPLICATION_ID = 0x77703366  # "wp3f"
FIRST_SURVEY_NAME = "First survey"

_V1 = (
    """CREATE TABLE surveys (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL CHECK (typeof(name) = 'text' AND length(name) BETWEEN 1 AND 200),
        created_at REAL NOT NULL,
        undone_at REAL
    )""",
    # The timeline: from started_at on, new tests belong to survey_id.
    """CREATE TABLE segments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        survey_id INTEGER NOT NULL REFERENCES surveys(id),
        started_at REAL NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('initial', 'start', 'reopen', 'migrated')),
        undone_at REAL
    )""",
    "CREATE INDEX segments_survey ON segments(survey_id)",
    # A device named its place: tests from address starting at or after `at` belong to place.
    """CREATE TABLE claims (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        address TEXT NOT NULL,
        place TEXT CHECK (place IS NULL OR (typeof(place) = 'text' AND length(place) BETWEEN 1 AND 200)),
        at REAL NOT NULL,
        device TEXT,
        user_agent TEXT
    )""",
    "CREATE INDEX claims_address ON claims(address, at)",
    # What a person set for one test, by the test's id (port-cookie).
    """CREATE TABLE edits (
        test_id TEXT PRIMARY KEY,
        port INTEGER NOT NULL,
        started_at REAL NOT NULL,
        place TEXT CHECK (place IS NULL OR (typeof(place) = 'text' AND length(place) BETWEEN 1 AND 200)),
        excluded INTEGER NOT NULL DEFAULT 0 CHECK (excluded IN (0, 1)),
        updated_at REAL NOT NULL,
        by TEXT
    )""",
    # Every edit ever made, so an overwritten one is never lost.
    """CREATE TABLE edit_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        test_id TEXT NOT NULL,
        place TEXT,
        excluded INTEGER NOT NULL,
        at REAL NOT NULL,
        by TEXT
    )""",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE VIEW timeline AS
        SELECT g.id, g.survey_id, s.name AS survey, g.kind,
               datetime(g.started_at, 'unixepoch', 'localtime') AS started,
               datetime(g.undone_at, 'unixepoch', 'localtime') AS undone
        FROM segments g JOIN surveys s ON s.id = g.survey_id ORDER BY g.started_at, g.id""",
    """CREATE VIEW named_places AS
        SELECT id, address, place, datetime(at, 'unixepoch', 'localtime') AS named, device, user_agent
        FROM claims ORDER BY at, id""",
    """CREATE VIEW test_edits AS
        SELECT test_id, port, datetime(started_at, 'unixepoch', 'localtime') AS test_started,
               place, excluded, datetime(updated_at, 'unixepoch', 'localtime') AS edited, by
        FROM edits ORDER BY started_at""",
)


def _v1(conn: sqlite3.Connection, now: float) -> None:
    for statement in _V1:
        conn.execute(statement)
    cur = conn.execute("INSERT INTO surveys (name, created_at) VALUES (?, ?)", (FIRST_SURVEY_NAME, now))
    # The first survey holds everything from the beginning of the logs.
    conn.execute("INSERT INTO segments (survey_id, started_at, kind) VALUES (?, 0, 'initial')", (cur.lastrowid,))


def _v2(conn: sqlite3.Connection, now: float) -> None:
    """Floor plans and the spots of places on them (plans.py)."""
    create_tables(conn)


#: Step N brings a file at user_version N to N + 1. Append, never edit.
MIGRATIONS: tuple[Callable[[sqlite3.Connection, float], None], ...] = (_v1, _v2)
SCHEMA_VERSION = len(MIGRATIONS)


# -- opening ------------------------------------------------------------------------


#: Seconds a change waits for another program's write lock on the file.
BUSY_TIMEOUT_S = 2.0


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open (creating if need be) and migrate the file; one connection, shareable
    between threads by a caller that serialises its use (the book's lock)."""
    try:
        if readonly:
            conn = _connect_readonly(path)
        else:
            # Another program holding the write lock (sqlite3, a backup) makes a
            # change wait this long, then answer 503: never a hung request.
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_S)
        try:
            _check_identity(conn, path)
            conn.execute("PRAGMA foreign_keys = ON")
            if not readonly:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode != "wal":
                    log.warning("%s: WAL is not available here (journal mode %s)", path, mode)
                conn.execute("PRAGMA synchronous = FULL")
                migrate(conn, path)
            elif _user_version(conn) != SCHEMA_VERSION:
                raise BookOpenError(f"{path} has schema {_user_version(conn)}; this webperf3 reads {SCHEMA_VERSION} (open it once writable to migrate)")
        except BaseException:
            conn.close()
            raise
    except sqlite3.DatabaseError as exc:
        raise BookOpenError(f"cannot use {path}: {exc}") from exc
    return conn


def _connect_readonly(path: Path) -> sqlite3.Connection:
    uri = path.resolve().as_uri()
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        # A WAL file in a directory we cannot write: read it as it stands.
        return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None, check_same_thread=False)


def _user_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def _check_identity(conn: sqlite3.Connection, path: Path) -> None:
    app = conn.execute("PRAGMA application_id").fetchone()[0]
    version = _user_version(conn)
    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if (version or tables) and app != APPLICATION_ID:
        raise BookOpenError(f"{path} is another program's SQLite file, not webperf3's: move it away")
    if version > SCHEMA_VERSION:
        raise BookOpenError(f"{path} was written by a newer webperf3 (schema {version}; this one knows up to {SCHEMA_VERSION})")


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    version = _user_version(conn)
    for step in range(version, SCHEMA_VERSION):
        with transaction(conn, path):
            MIGRATIONS[step](conn, time.time())
            conn.execute(f"PRAGMA user_version = {step + 1}")
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        log.info("%s: schema %d → %d", path, step, step + 1)


# -- writing ------------------------------------------------------------------------


@contextmanager
def transaction(conn: sqlite3.Connection, path: Path) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``: all of it or none. SQLite's errors
    become :class:`BookWriteError`; anything else raised inside rolls back too."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    log.exception("%s: rollback failed", path)
            raise
    except sqlite3.Error as exc:
        raise write_error(path, exc) from exc


def write_error(path: Path, exc: sqlite3.Error) -> BookWriteError:
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if name.startswith("SQLITE_FULL") or "disk is full" in text:
        return BookWriteError(f"cannot save: the disk holding {path.parent} is full; nothing was changed (free some space and try again)", disk_full=True)
    if name.startswith("SQLITE_READONLY") or "readonly" in text:
        return BookWriteError(f"cannot save: {path} is read-only; nothing was changed")
    if name.startswith("SQLITE_BUSY") or "locked" in text:
        return BookWriteError(f"cannot save: another program holds {path} locked; nothing was changed (try again)")
    return BookWriteError(f"cannot save to {path}: {text}; nothing was changed")


# -- loading ------------------------------------------------------------------------


@dataclass(slots=True)
class Loaded:
    surveys: dict[int, Survey] = field(default_factory=dict)
    segments: list[Segment] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    edits: dict[str, Edit] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    plans: dict[int, Plan] = field(default_factory=dict)
    spots: dict[str, Spot] = field(default_factory=dict)  # by plans.place_key


def load(conn: sqlite3.Connection) -> Loaded:
    """Everything, in one read transaction (a consistent snapshot)."""
    conn.execute("BEGIN")
    try:
        return load_in(conn)
    finally:
        conn.execute("COMMIT")


def load_in(conn: sqlite3.Connection) -> Loaded:
    """Everything, within the caller's transaction."""
    out = Loaded()
    for sid, name, created, undone in conn.execute("SELECT id, name, created_at, undone_at FROM surveys"):
        out.surveys[sid] = Survey(id=sid, name=name, created_at=created, undone_at=undone)
    out.segments = [
        Segment(id=i, survey=s, started_at=t, kind=k, undone_at=u)
        for i, s, t, k, u in conn.execute("SELECT id, survey_id, started_at, kind, undone_at FROM segments")
    ]
    out.claims = [
        Claim(id=i, address=a, place=p, at=t, device=d, user_agent=ua)
        for i, a, p, t, d, ua in conn.execute("SELECT id, address, place, at, device, user_agent FROM claims")
    ]
    out.edits = {
        tid: Edit(test_id=tid, port=port, started_at=t, place=p, excluded=bool(x), updated_at=u, by=by)
        for tid, port, t, p, x, u, by in conn.execute("SELECT test_id, port, started_at, place, excluded, updated_at, by FROM edits")
    }
    out.meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    out.plans, out.spots = load_plans(conn)
    return out


def empty() -> Loaded:
    """What a new file holds, for a read-only book with no file yet."""
    now = time.time()
    return Loaded(
        surveys={1: Survey(id=1, name=FIRST_SURVEY_NAME, created_at=now)},
        segments=[Segment(id=1, survey=1, started_at=0.0, kind="initial")],
    )


def data_version(conn: sqlite3.Connection) -> int:
    """Changes when *another* connection commits (not this one's own commits)."""
    return conn.execute("PRAGMA data_version").fetchone()[0]
