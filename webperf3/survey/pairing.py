"""Paired devices: who may change what others see, without typing a token.

At its first start the station makes an admin secret, kept in a file beside
the survey book (``<log-dir>/webperf3-admin.secret``, mode 0600, re-used on
later starts, never logged). From it come pairing codes, each
``<expiry>.<nonce>.<mac>``: anyone holding the secret (the station, and
``webperf3 pair`` on the same machine) can make one, and the station can
check one, without sharing any other state. A code is good once and for a
few minutes (the book keeps a hash of each code used), so a photo of the
screen or a line of the journal read later pairs nobody.

Opening ``/pair?code=...`` with a good code gives the browser a random device
token in a cookie; the book keeps only its SHA-256, with when, from where and
a short description of the browser, so ``webperf3 pair --list`` and
``--revoke`` work from another process while the station runs (SQLite WAL:
each check reads the table, so a revocation holds from the next request).

The SQL here runs on a connection the caller holds (the book's, under its
lock; or the CLI's own); the rest is pure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import sqlite3
import stat
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SECRET_NAME = "webperf3-admin.secret"
#: The cookie a paired browser holds: a random token, not the secret.
COOKIE = "webperf3_device"
#: Browsers cap a cookie's life at 400 days (Chrome): a phone paired for a season.
COOKIE_MAX_AGE_S = 400 * 86400
#: How long a code from ``webperf3 pair`` or the screen is good for.
CODE_TTL_S = 10 * 60
#: The journal's start line is read later than a screen: an hour.
JOURNAL_CODE_TTL_S = 60 * 60

# The tables, created by db.py's migration (kept here beside the code that uses them).
SCHEMA = (
    """CREATE TABLE paired_devices (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        token_hash TEXT NOT NULL UNIQUE,
        paired_at REAL NOT NULL,
        address TEXT,
        description TEXT,
        revoked_at REAL
    )""",
    # A pairing code is good once: the hash of each one used (the nonce
    # makes each code different; old ones could be pruned by expiry).
    "CREATE TABLE used_pairing_codes (code_hash TEXT PRIMARY KEY, used_at REAL NOT NULL)",
)


# -- the secret ------------------------------------------------------------------------


def secret_path(log_dir: Path) -> Path:
    return Path(log_dir) / SECRET_NAME


def load_or_make_secret(log_dir: Path) -> str:
    """The station's admin secret: read, or made at the first start (0600:
    only the station's user may read it). A file others can read is made
    private again, with a warning: its codes could have been made by them."""
    path = secret_path(log_dir)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_secret(log_dir)
    secret = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(secret + "\n")
        out.flush()
        os.fsync(out.fileno())
    log.info("made a new admin secret in %s (readable only by this user)", path)
    return secret


def read_secret(log_dir: Path) -> str:
    """The secret of a station that has started once; OSError if none."""
    path = secret_path(log_dir)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s could be read by other users: made private again (pair devices again if others may have used it)", path)
        path.chmod(0o600)
    secret = path.read_text(encoding="ascii").strip()
    if len(secret) < 16:
        raise OSError(f"{path} holds no usable secret: remove it and start the station again to make a new one")
    return secret


# -- codes (pure) --------------------------------------------------------------------------


def _mac(secret: str, message: str) -> str:
    digest = hmac.new(secret.encode(), f"pair\n{message}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:12]).decode().rstrip("=")


def make_code(secret: str, now: float, ttl: float = CODE_TTL_S) -> str:
    """A pairing code good until ``now + ttl``, once."""
    expiry = f"{int(now + ttl):x}"
    nonce = secrets.token_urlsafe(6)
    return f"{expiry}.{nonce}.{_mac(secret, f'{expiry}.{nonce}')}"


def code_expiry(code: str) -> float | None:
    try:
        return float(int(code.split(".", 1)[0], 16))
    except ValueError:
        return None


def check_code(secret: str, code: str, now: float) -> str | None:
    """Why ``code`` cannot pair a device now (None: it can, if not used yet)."""
    parts = code.split(".")
    if len(parts) != 3 or len(code) > 100:
        return "this is not a pairing code of this station"
    expiry, nonce, mac = parts
    if not hmac.compare_digest(mac.encode(), _mac(secret, f"{expiry}.{nonce}").encode()):
        return "this is not a pairing code of this station (or the station's secret was made again since)"
    ends = code_expiry(code)
    if ends is None or ends < now:
        return "this pairing code has expired"
    return None


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def new_device_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- the book's tables (on the caller's connection) ------------------------------------------


@dataclass(frozen=True, slots=True)
class PairedDevice:
    id: int
    paired_at: float
    address: str | None
    description: str | None
    revoked_at: float | None

    def to_dict(self) -> dict:
        return {"id": self.id, "paired_at": self.paired_at, "address": self.address, "description": self.description, "revoked_at": self.revoked_at}


def redeem(conn: sqlite3.Connection, code: str, token: str, *, address: str | None, description: str | None, now: float | None = None) -> int | None:
    """In the caller's transaction: the code marked used and the device
    added; its id, or None when the code was used already."""
    now = time.time() if now is None else now
    try:
        conn.execute("INSERT INTO used_pairing_codes (code_hash, used_at) VALUES (?, ?)", (code_hash(code), now))
    except sqlite3.IntegrityError:
        return None
    return conn.execute(
        "INSERT INTO paired_devices (token_hash, paired_at, address, description) VALUES (?, ?, ?, ?)",
        (token_hash(token), now, address, description),
    ).lastrowid


def code_used(conn: sqlite3.Connection, code: str) -> bool:
    return conn.execute("SELECT 1 FROM used_pairing_codes WHERE code_hash = ?", (code_hash(code),)).fetchone() is not None


def device_of(conn: sqlite3.Connection, token: str) -> PairedDevice | None:
    """The device holding this token (revoked or not), if it was ever paired."""
    row = conn.execute(
        "SELECT id, paired_at, address, description, revoked_at FROM paired_devices WHERE token_hash = ?", (token_hash(token),)
    ).fetchone()
    return None if row is None else PairedDevice(*row)


def devices(conn: sqlite3.Connection, *, include_revoked: bool = False) -> list[PairedDevice]:
    where = "" if include_revoked else " WHERE revoked_at IS NULL"
    return [PairedDevice(*row) for row in conn.execute(f"SELECT id, paired_at, address, description, revoked_at FROM paired_devices{where} ORDER BY id")]


def revoke(conn: sqlite3.Connection, device_id: int | None, now: float | None = None) -> int:
    """Revoke one device (None: every one); how many were revoked now."""
    now = time.time() if now is None else now
    if device_id is None:
        return conn.execute("UPDATE paired_devices SET revoked_at = ? WHERE revoked_at IS NULL", (now,)).rowcount
    return conn.execute("UPDATE paired_devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (now, device_id)).rowcount
