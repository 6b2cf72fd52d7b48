"""The survey book: what people add to the tests, saved in one SQLite file.

Surveys (replacing "Clear table"), places named from the browser (claims),
and per-test edits and exclusions. Each write is one SQLite transaction; only
once it is committed does the book change in memory and tell its listeners.
A failed write (:class:`~webperf3.survey.errors.BookWriteError`) changes
nothing anywhere.

One class, about 680 lines: a dozen kinds of write (surveys, places, edits,
floor plans and spots, paired devices), each a transaction and its twin in memory, and the
one file they all go to (followed when the log directory is made again)
belong together; the rules, records, schema, plans' checks and views live in
modules of their own.

Threads: one connection, used under the book's lock. Reads never touch it:
:meth:`SurveyBook.view` hands out an immutable :class:`BookView` that any
thread may keep (``benchmarks/survey_bench.py`` compares this with a
connection per thread). Writes are human-paced, each one fsync'd; one waits
for another at most :data:`WRITE_WAIT_S`, and for another program's lock on
the file at most ``db.BUSY_TIMEOUT_S``, then is refused (503), so no request
hangs on the book.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from ..store.record import Result
from . import db, legacy, pairing
from .errors import BookBusy, BookConflict, BookError, BookInputError, BookNotFound, BookWriteError
from .images import ImageInfo
from .plans import Plan, Scale, Spot, clean_fraction, clean_plan_name, clean_scale, encode_scale, place_key
from .records import BookChange, Claim, ClaimOutcome, Edit, Segment, Survey
from .rules import NAT_WINDOW_S, ClaimIndex, Timeline, clean_address, clean_name, clean_optional, clean_time, nat_conflict, result_id
from .view import BookView

log = logging.getLogger(__name__)

#: How long a change waits for the one being saved before it is refused
#: (503: try again).
WRITE_WAIT_S = 2.0


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


#: ``edit(place=KEEP)``: leave the place as it is.
KEEP: Final = _Keep()

Listener = Callable[[BookChange], None]


class SurveyBook:
    """The book of one log directory: ``SurveyBook.open(log_dir)``."""

    def __init__(
        self,
        path: Path,
        *,
        readonly: bool = False,
        nat_window: float = NAT_WINDOW_S,
        outside_check_s: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.nat_window = nat_window
        #: How often :meth:`view` asks SQLite whether another program changed
        #: the file: a read is then a few attribute lookups, not a query.
        self.outside_check_s = outside_check_s
        self._checked_at = time.monotonic()
        self._clock = clock
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._version = 0
        self._conn: sqlite3.Connection | None = None
        if readonly and not self.path.exists():
            loaded = db.empty()  # copied logs with no book: every test in the first survey
        else:
            self._conn = db.connect(self.path, readonly=readonly)
            loaded = db.load(self._conn)
        self._take(loaded)
        self._data_version = self._read_data_version()
        self._identity = self._file_identity() if self._conn is not None else None
        #: Why changes cannot be saved now, for /healthz; None when they can.
        self.problem: str | None = None

    @classmethod
    def open(cls, log_dir: Path, *, readonly: bool = False, **options: Any) -> SurveyBook:
        """``<log_dir>/webperf3.sqlite3``, created if need be; the old clear
        marks of ``log_dir`` become surveys the first time."""
        book = cls(Path(log_dir) / db.DB_NAME, readonly=readonly, **options)
        if not readonly:
            try:
                book._migrate_state_file(Path(log_dir))
            except BaseException:
                book.close()
                raise
        return book

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> SurveyBook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ----------------------------------------------------------------------

    @property
    def version(self) -> int:
        return self._version

    def view(self) -> BookView:
        """The book now, to read from any thread without locking. Picks up a
        change another program committed to the file (``sqlite3``, datasette)."""
        if self._conn is not None and time.monotonic() - self._checked_at >= self.outside_check_s:
            if self._lock.acquire(blocking=False):  # a write under way publishes its own view: never wait for it
                try:
                    self._checked_at = time.monotonic()
                    self._follow()
                    self._check_outside_changes()
                except BookError as exc:
                    log.debug("%s", exc)  # said by /healthz (self.problem), and by the next change refused
                finally:
                    self._lock.release()
        return self._view

    def reload(self) -> bool:
        """Read the whole file again; True (and listeners told) if it differed."""
        with self._lock:
            if self._conn is None:
                return False
            self._data_version = self._read_data_version()
            before = self._state()
            self._take(db.load(self._conn))
            if before == self._state():
                return False
            self._publish("reload", everything=True)
            return True

    def _check_outside_changes(self) -> None:
        try:
            if self._read_data_version() != self._data_version:
                self.reload()
        except sqlite3.Error as exc:
            log.warning("%s: cannot check for outside changes: %s", self.path, exc)

    def _read_data_version(self) -> int:
        return db.data_version(self._conn) if self._conn is not None else 0

    # -- listeners --------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(change)`` after every saved change (see
        :class:`~webperf3.survey.records.BookChange`). Called under the book's
        lock, in change order: hand the change on, never block."""
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    # -- surveys ----------------------------------------------------------------------

    def start(self, name: str | None = None, at: float | None = None) -> Survey:
        """Start a survey ("New survey"): tests starting from now on belong to it.
        No name: "Survey N"."""
        with self._changing():
            name = f"Survey {len(self._surveys) + 1}" if name is None else clean_name(name, "the survey's name")
            at = self._at(at)
            last = self._view.timeline.last
            # The clock went back (a Pi with no RTC before NTP): still the latest start.
            started = at if last is None else max(at, last.started_at)
            with self._write() as conn:
                sid = conn.execute("INSERT INTO surveys (name, created_at) VALUES (?, ?)", (name, at)).lastrowid
                seg = conn.execute("INSERT INTO segments (survey_id, started_at, kind) VALUES (?, ?, 'start')", (sid, started)).lastrowid
            survey = Survey(id=sid, name=name, created_at=at)
            self._surveys = {**self._surveys, sid: survey}
            self._segments = [*self._segments, Segment(id=seg, survey=sid, started_at=started, kind="start")]
            self._publish("start", survey=survey, everything=True)
            return survey

    def rename(self, survey_id: int, name: str) -> Survey:
        with self._changing():
            old = self._survey(survey_id)
            name = clean_name(name, "the survey's name")
            if name == old.name:
                return old
            with self._write() as conn:
                conn.execute("UPDATE surveys SET name = ? WHERE id = ?", (name, survey_id))
            survey = Survey(id=old.id, name=name, created_at=old.created_at, undone_at=old.undone_at)
            self._surveys = {**self._surveys, survey_id: survey}
            self._publish("rename", survey=survey)
            return survey

    def reopen(self, survey_id: int, at: float | None = None) -> Survey:
        """Make an earlier survey current again: tests starting from now on go
        to it, and those run in between stay where they are. Reopening the
        current survey changes nothing."""
        with self._changing():
            survey = self._survey(survey_id)
            if survey.undone:
                raise BookConflict(f"the start of survey {survey.name!r} was undone: restore it first")
            if self._view.timeline.current == survey_id:
                return survey
            at = self._at(at)
            last = self._view.timeline.last
            started = at if last is None else max(at, last.started_at)
            with self._write() as conn:
                seg = conn.execute("INSERT INTO segments (survey_id, started_at, kind) VALUES (?, ?, 'reopen')", (survey_id, started)).lastrowid
            self._segments = [*self._segments, Segment(id=seg, survey=survey_id, started_at=started, kind="reopen")]
            self._publish("reopen", survey=survey, everything=True)
            return survey

    def undo_start(self, survey_id: int) -> Survey:
        """Undo a survey's start: its tests go back to the survey before each of
        its spans. Nothing is deleted: :meth:`restore` brings it back."""
        with self._changing():
            survey = self._survey(survey_id)
            if survey.undone:
                raise BookConflict(f"the start of survey {survey.name!r} is already undone")
            timeline = self._view.timeline
            if timeline.surveys and timeline.surveys[0] == survey_id:
                raise BookConflict(f"{survey.name!r} is the first survey: there is no earlier survey for its tests to go back to")
            now = self._clock()
            with self._write() as conn:
                conn.execute("UPDATE surveys SET undone_at = ? WHERE id = ?", (now, survey_id))
                conn.execute("UPDATE segments SET undone_at = ? WHERE survey_id = ? AND undone_at IS NULL", (now, survey_id))
            survey = Survey(id=survey.id, name=survey.name, created_at=survey.created_at, undone_at=now)
            self._surveys = {**self._surveys, survey_id: survey}
            self._segments = [_undone(s, now) if s.survey == survey_id and s.undone_at is None else s for s in self._segments]
            self._publish("undo", survey=survey, everything=True)
            return survey

    def undo_last(self) -> Survey:
        """Undo the latest step of the timeline, again and again: a survey's
        start (see :meth:`undo_start`) or a reopening (the survey it made
        current stops being so). The survey acted on."""
        with self._changing():
            live = [s for s in self._segments if s.undone_at is None]
            last = max(live, key=lambda s: s.id, default=None)
            if last is None or last.kind == "initial":
                raise BookConflict("there is no survey start left to undo")
            if last.kind != "reopen":
                return self.undo_start(last.survey)
            now = self._clock()
            with self._write() as conn:
                conn.execute("UPDATE segments SET undone_at = ? WHERE id = ?", (now, last.id))
            self._segments = [_undone(s, now) if s.id == last.id else s for s in self._segments]
            survey = self._surveys[last.survey]
            self._publish("undo", survey=survey, everything=True)
            return survey

    def restore(self, survey_id: int) -> Survey:
        """Redo an undone start: the survey gets back the spans it had."""
        with self._changing():
            survey = self._survey(survey_id)
            if survey.undone_at is None:
                raise BookConflict(f"survey {survey.name!r} was not undone")
            when = survey.undone_at
            with self._write() as conn:
                conn.execute("UPDATE surveys SET undone_at = NULL WHERE id = ?", (survey_id,))
                conn.execute("UPDATE segments SET undone_at = NULL WHERE survey_id = ? AND undone_at = ?", (survey_id, when))
            survey = Survey(id=survey.id, name=survey.name, created_at=survey.created_at)
            self._surveys = {**self._surveys, survey_id: survey}
            self._segments = [_undone(s, None) if s.survey == survey_id and s.undone_at == when else s for s in self._segments]
            self._publish("restore", survey=survey, everything=True)
            return survey

    def _survey(self, survey_id: object) -> Survey:
        if isinstance(survey_id, bool) or not isinstance(survey_id, int):
            raise BookInputError(f"a survey id is a whole number, not {survey_id!r}")
        survey = self._surveys.get(survey_id)
        if survey is None:
            raise BookNotFound(f"there is no survey {survey_id}")
        return survey

    # -- places named from the browser ---------------------------------------------------

    def claim(
        self,
        address: str,
        place: str | None,
        *,
        at: float | None = None,
        device: str | None = None,
        user_agent: str | None = None,
        spot: tuple[object, object, object] | None = None,
    ) -> ClaimOutcome:
        """Tests from ``address`` that start from ``at`` (default now) on belong
        to ``place`` (None: to no place), until that address names another or a
        survey is started or reopened. ``device`` is the page's random id (or
        none, then the user agent tells devices apart) for the NAT check.
        ``spot`` (plan id, x, y): where the place is on a plan, saved with it."""
        with self._changing():
            address = clean_address(address)
            place = None if place is None else clean_name(place, "the place")
            device = clean_optional(device, "the device id")
            user_agent = clean_optional(user_agent, "the user agent")
            at = self._at(at)
            if spot is not None and place is None:
                raise BookInputError("a spot on a plan is a place's: give the place a name")
            new_spot = None if spot is None or place is None else self._new_spot(place, *spot, at=at)
            if new_spot is not None and place_key(new_spot.place) in self._spots:
                # A place already on a plan stays where it is: moving it is an admin's (set_spot).
                new_spot = None
            with self._write() as conn:
                cid = conn.execute(
                    "INSERT INTO claims (address, place, at, device, user_agent) VALUES (?, ?, ?, ?, ?)",
                    (address, place, at, device, user_agent),
                ).lastrowid
                if new_spot is not None:
                    _save_spot(conn, new_spot, address)
            if new_spot is not None:
                self._spots = {**self._spots, place_key(new_spot.place): new_spot}
            claim = Claim(id=cid, address=address, place=place, at=at, device=device, user_agent=user_agent)
            self._claims = self._claims.with_claim(claim)
            self._claims_list = [*self._claims_list, claim]
            conflicts = nat_conflict(self._claims.of(address), at, self.nat_window)
            self._publish("claim", address=address, claim=claim, conflicts=conflicts)
            return ClaimOutcome(claim=claim, conflicts=conflicts)

    # -- edits ---------------------------------------------------------------------------

    def edit(self, result: Result, *, place: str | None | _Keep = KEEP, excluded: bool | None = None, by: str | None = None) -> Edit:
        """Set a test's place (None: back to its own, from the client or the
        browser) and/or exclude it from its survey (False: include it again)."""
        return self.edit_many((result,), place=place, excluded=excluded, by=by)[0]

    def edit_many(
        self, results: Iterable[Result], *, place: str | None | _Keep = KEEP, excluded: bool | None = None, by: str | None = None
    ) -> list[Edit]:
        """:meth:`edit` of several tests in one transaction: all or none."""
        if isinstance(place, _Keep) and excluded is None:
            raise BookInputError("nothing to change: give a place or excluded")
        if excluded is not None and not isinstance(excluded, bool):
            raise BookInputError(f"excluded is true or false, not {excluded!r}")
        new_place = place if isinstance(place, _Keep) or place is None else clean_name(place, "the place")
        by = clean_optional(by, "the editor")
        with self._changing():
            now = self._clock()
            edits: dict[str, Edit] = {}
            for result in results:
                if not isinstance(result, Result):
                    raise BookInputError(f"only tests can be edited, not {type(result).__name__}")
                tid = result_id(result)
                old = edits.get(tid) or self._edits.get(tid)
                edits[tid] = Edit(
                    test_id=tid,
                    port=result.port,
                    started_at=result.time,
                    place=(old.place if old else None) if isinstance(new_place, _Keep) else new_place,
                    excluded=(old.excluded if old else False) if excluded is None else excluded,
                    updated_at=now,
                    by=by,
                )
            if not edits:
                return []
            with self._write() as conn:
                conn.executemany(
                    "INSERT INTO edits (test_id, port, started_at, place, excluded, updated_at, by) VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (test_id) DO UPDATE SET place = excluded.place, excluded = excluded.excluded, "
                    "updated_at = excluded.updated_at, by = excluded.by",
                    [(e.test_id, e.port, e.started_at, e.place, int(e.excluded), e.updated_at, e.by) for e in edits.values()],
                )
                conn.executemany(
                    "INSERT INTO edit_history (test_id, place, excluded, at, by) VALUES (?, ?, ?, ?, ?)",
                    [(e.test_id, e.place, int(e.excluded), e.updated_at, e.by) for e in edits.values()],
                )
            self._edits = {**self._edits, **edits}
            self._publish("edit", ids=tuple(edits))
            return list(edits.values())

    # -- floor plans and spots (plans.py) -------------------------------------------------

    def plans(self) -> list[Plan]:
        """Every plan, in the order they were added (metadata: no pictures)."""
        return sorted(self._plans.values(), key=lambda p: p.id)

    def plan(self, plan_id: object) -> Plan:
        if isinstance(plan_id, bool) or not isinstance(plan_id, int):
            raise BookInputError(f"a plan id is a whole number, not {plan_id!r}"[:200])
        found = self._plans.get(plan_id)
        if found is None:
            raise BookNotFound(f"there is no plan {plan_id}")
        return found

    def spots(self) -> dict[str, Spot]:
        """Every place on a plan, by :func:`~webperf3.survey.plans.place_key` (a snapshot: never changed)."""
        return self._spots

    def plan_image(self, plan_id: int) -> tuple[Plan, bytes]:
        """A plan and its picture, read from the file (pictures are never held in memory)."""
        with self._changing():
            plan = self.plan(plan_id)
            if self._conn is None:
                raise BookNotFound(f"there is no plan {plan_id}")
            try:
                row = self._conn.execute("SELECT image FROM plans WHERE id = ?", (plan_id,)).fetchone()
            except sqlite3.Error as exc:
                raise db.write_error(self.path, exc) from exc
            if row is None:
                raise BookNotFound(f"there is no plan {plan_id}")
            return plan, bytes(row[0])

    def add_plan(self, name: object, image: bytes, info: ImageInfo) -> Plan:
        """Keep a floor plan (its picture checked by :func:`~webperf3.survey.images.sniff`)."""
        with self._changing():
            name = clean_plan_name(name)
            now = self._clock()
            with self._write() as conn:
                pid = conn.execute(
                    "INSERT INTO plans (name, mime, width, height, image, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (name, info.mime, info.width, info.height, image, now, now),
                ).lastrowid
            plan = Plan(id=pid, name=name, mime=info.mime, width=info.width, height=info.height, bytes=len(image), created_at=now, updated_at=now)
            self._plans = {**self._plans, pid: plan}
            self._publish("plan")
            return plan

    def replace_plan(self, plan_id: int, image: bytes, info: ImageInfo) -> Plan:
        """A new picture of the same floor: its spots stay where they are (as fractions)."""
        with self._changing():
            old = self.plan(plan_id)
            now = self._clock()
            with self._write() as conn:
                conn.execute(
                    "UPDATE plans SET mime = ?, width = ?, height = ?, image = ?, updated_at = ? WHERE id = ?",
                    (info.mime, info.width, info.height, image, now, plan_id),
                )
            plan = Plan(id=plan_id, name=old.name, mime=info.mime, width=info.width, height=info.height, bytes=len(image),
                        created_at=old.created_at, updated_at=now, scale=old.scale)
            self._plans = {**self._plans, plan_id: plan}
            self._publish("plan")
            return plan

    def edit_plan(self, plan_id: int, *, name: object = KEEP, scale: object = KEEP) -> Plan:
        """Rename a plan and/or set its scale (``{"ax", "ay", "bx", "by", "metres"}``, None: none)."""
        with self._changing():
            old = self.plan(plan_id)
            new_name = old.name if isinstance(name, _Keep) else clean_plan_name(name)
            new_scale: Scale | None = old.scale if isinstance(scale, _Keep) else clean_scale(scale)
            now = self._clock()
            with self._write() as conn:
                conn.execute("UPDATE plans SET name = ?, scale = ?, updated_at = ? WHERE id = ?", (new_name, encode_scale(new_scale), now, plan_id))
            plan = Plan(id=plan_id, name=new_name, mime=old.mime, width=old.width, height=old.height, bytes=old.bytes,
                        created_at=old.created_at, updated_at=now, scale=new_scale)
            self._plans = {**self._plans, plan_id: plan}
            self._publish("plan")
            return plan

    def remove_plan(self, plan_id: int) -> Plan:
        """Remove a plan and the spots on it; no test and no place is lost."""
        with self._changing():
            plan = self.plan(plan_id)
            with self._write() as conn:
                conn.execute("DELETE FROM spots WHERE plan_id = ?", (plan_id,))
                conn.execute("DELETE FROM plans WHERE id = ?", (plan_id,))
            self._plans = {k: v for k, v in self._plans.items() if k != plan_id}
            self._spots = {k: v for k, v in self._spots.items() if v.plan != plan_id}
            self._publish("plan")
            return plan

    def set_spot(self, place: object, plan_id: object, x: object, y: object, *, by: str | None = None) -> Spot:
        """Put a place on a plan, or move it there."""
        with self._changing():
            spot = self._new_spot(clean_name(place, "the place"), plan_id, x, y, at=self._clock())
            with self._write() as conn:
                _save_spot(conn, spot, clean_optional(by, "the editor"))
            self._spots = {**self._spots, place_key(spot.place): spot}
            self._publish("spot")
            return spot

    def clear_spot(self, place: object) -> Spot:
        """Take a place off its plan (its tests keep their place)."""
        with self._changing():
            key = place_key(clean_name(place, "the place"))
            spot = self._spots.get(key)
            if spot is None:
                raise BookNotFound(f"{place!r} is on no plan"[:200])
            with self._write() as conn:
                conn.execute("DELETE FROM spots WHERE key = ?", (key,))
            self._spots = {k: v for k, v in self._spots.items() if k != key}
            self._publish("spot")
            return spot

    def _new_spot(self, place: str, plan_id: object, x: object, y: object, *, at: float) -> Spot:
        plan = self.plan(plan_id)
        return Spot(place=place, plan=plan.id, x=clean_fraction(x, "x"), y=clean_fraction(y, "y"), at=at)

    # -- the old clear marks -----------------------------------------------------------------

    def _migrate_state_file(self, log_dir: Path) -> None:
        with self._lock:
            if legacy.META_KEY in self._meta:
                return
            with self._write() as conn:
                found = legacy.migrate_clears(conn, log_dir, self._clock())
                loaded = db.load_in(conn)
            self._take(loaded)
            if found.times:
                self._publish("reload", everything=True)
            legacy.retire(log_dir, found)

    # -- paired devices (see survey/pairing.py) ---------------------------------------------
    # Read from the file on every call, not from the view: `webperf3 pair
    # --revoke` writes from another process, and must hold from the next request.

    def pair_device(self, code: str, token: str, *, address: str | None, description: str | None) -> int | None:
        """Redeem a pairing code for a device token: its id, or None if the code was used already."""
        with self._changing(), self._write() as conn:
            return pairing.redeem(conn, code, token, address=address, description=description, now=self._clock())

    def paired_device(self, token: str) -> pairing.PairedDevice | None:
        with self._lock:
            return None if self._pairs() is None else pairing.device_of(self._conn, token)

    def paired_devices(self, *, include_revoked: bool = False) -> list[pairing.PairedDevice]:
        with self._lock:
            return [] if self._pairs() is None else pairing.devices(self._conn, include_revoked=include_revoked)

    def pairing_code_used(self, code: str) -> bool:
        with self._lock:
            return self._pairs() is not None and pairing.code_used(self._conn, code)

    def _pairs(self) -> sqlite3.Connection | None:
        """The connection, where the file has the paired devices' tables (a
        read-only book of an older schema has none: no devices)."""
        if self._conn is None or (self.readonly and db.user_version(self._conn) < db.PAIRED_DEVICES_FROM):
            return None
        return self._conn

    def revoke_devices(self, device_id: int | None) -> int:
        """Revoke one paired device (None: all); how many were revoked."""
        with self._changing(), self._write() as conn:
            return pairing.revoke(conn, device_id, now=self._clock())

    # -- inside --------------------------------------------------------------------------

    @contextmanager
    def _changing(self) -> Iterator[None]:
        """The book's lock, for a change, waited for at most
        :data:`WRITE_WAIT_S` (then :class:`BookBusy`: a request never hangs
        on a change stuck behind another program's lock on the file); then
        the file is checked to still be the one at the book's path
        (:meth:`_follow`). Readers never take this lock."""
        if not self._lock.acquire(timeout=WRITE_WAIT_S):
            raise BookBusy(f"cannot save now: another change has been saving for over {WRITE_WAIT_S:g} s; nothing was changed (try again in a moment)")
        try:
            self._follow()
            yield
        finally:
            self._lock.release()

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    def _follow(self) -> None:
        """Keep saving into the file at the book's path. When the log
        directory is removed and made again (or moved away), the open
        connection still writes into the deleted file, and every change would
        be lost at the next start: write what this book holds into a new file
        at its path and go on there, as the store follows new logs. Where the
        directory is not there (yet), refuse the change, loudly."""
        if self._conn is None or self.readonly:
            return
        found = self._file_identity()
        if found == self._identity:
            self.problem = None
            return
        if found is not None:
            # Another file was put at the path (a book restored from a
            # copy): it is the book now, as a replaced log is the log.
            log.warning("%s was replaced by another file: reading the survey book from it", self.path)
            self._reopen()
            return
        if not self.path.parent.is_dir():
            self.problem = f"the log directory {self.path.parent} is gone: the survey book cannot save what people add until it is back"
            raise BookWriteError(f"cannot save: {self.problem}; nothing was changed")
        try:
            fresh = sqlite3.connect(self.path, isolation_level=None)
            try:
                self._conn.backup(fresh)
            finally:
                fresh.close()
        except sqlite3.Error as exc:
            self.path.unlink(missing_ok=True)
            self.problem = f"the survey book {self.path} was removed and cannot be written again ({exc})"
            raise BookWriteError(f"cannot save: {self.problem}; nothing was changed") from exc
        log.warning("%s was removed (the log directory was made again?): wrote what the survey book holds into a new file there", self.path)
        self._reopen()

    def _reopen(self) -> None:
        old, self._conn = self._conn, None
        if old is not None:
            old.close()
        self._conn = db.connect(self.path)
        self._identity = self._file_identity()
        self._data_version = self._read_data_version()
        self.problem = None
        before = self._state()
        self._take(db.load(self._conn))
        if before != self._state():
            self._publish("reload", everything=True)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self._conn is None:
            raise BookWriteError(f"cannot save: {self.path} is {'open read-only' if self.readonly else 'closed'}; nothing was changed")
        with db.transaction(self._conn, self.path) as conn:
            yield conn

    def _at(self, at: float | None) -> float:
        return self._clock() if at is None else clean_time(at)

    def _take(self, loaded: db.Loaded) -> None:
        """Replace the whole state with what was loaded (a new view, no event)."""
        self._surveys = loaded.surveys
        self._segments = loaded.segments
        self._claims_list = loaded.claims
        self._claims = ClaimIndex(loaded.claims)
        self._edits = loaded.edits
        self._meta = loaded.meta
        self._plans = loaded.plans
        self._spots = loaded.spots
        self._view = BookView(self._version, self._surveys, Timeline(self._segments), self._claims, self._edits, self.nat_window)

    def _state(self) -> tuple[object, ...]:
        """What a reload compares to tell whether the file changed."""
        return (self._surveys, self._segments, self._claims_list, self._edits, self._plans, self._spots)

    def _publish(self, kind: Any, **fields: Any) -> BookChange:
        """A new view of the state as it now is, and every listener told."""
        self._version += 1
        old = self._view
        timeline = old.timeline if kind in ("claim", "edit", "rename", "plan", "spot") else Timeline(self._segments)
        self._view = BookView(self._version, self._surveys, timeline, self._claims, self._edits, self.nat_window)
        change = BookChange(kind=kind, version=self._version, current=timeline.current, **fields)
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:  # a broken listener must not undo a saved change
                log.exception("survey book listener failed")
        return change


def _save_spot(conn: sqlite3.Connection, spot: Spot, by: str | None) -> None:
    conn.execute(
        "INSERT INTO spots (key, place, plan_id, x, y, at, by) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET place = excluded.place, plan_id = excluded.plan_id, "
        "x = excluded.x, y = excluded.y, at = excluded.at, by = excluded.by",
        (place_key(spot.place), spot.place, spot.plan, spot.x, spot.y, spot.at, by),
    )


def _undone(segment: Segment, when: float | None) -> Segment:
    return Segment(id=segment.id, survey=segment.survey, started_at=segment.started_at, kind=segment.kind, undone_at=when)
