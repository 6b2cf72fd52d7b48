"""``webperf3 pair``: pair a phone as an admin device of the station on this
machine, or list and revoke the paired devices (see ``survey/pairing.py``).

It reads the station's admin secret from the log directory (so it runs as
the station's user) and makes a pairing code from it: the running station
checks it with the same secret, nothing else is shared. Listing and revoking
go to the survey book, which the station reads again at each admin request.
"""

from __future__ import annotations

import sys
import time

import segno

from ..survey import DB_NAME, BookError, SurveyBook
from ..survey.pairing import make_code, read_secret, secret_path
from ..text import printable
from .exitstatus import ExitStatus
from .options import PairOptions


def station_url(options: PairOptions) -> str:
    if options.url:
        return options.url if options.url.endswith("/") else options.url + "/"
    from ..station import addresses

    host = addresses()[0]
    return f"http://{'[' + host + ']' if ':' in host else host}:8080/"


def pair(options: PairOptions) -> int:
    if options.list_devices or options.revoke is not None:
        return _devices(options)
    try:
        secret = read_secret(options.log_dir)
    except FileNotFoundError:
        print(f"webperf3 pair: {secret_path(options.log_dir)} does not exist: start the station once with this --log-dir (it makes its admin secret then)", file=sys.stderr)
        return ExitStatus.USAGE
    except OSError as exc:
        print(f"webperf3 pair: cannot read the station's admin secret ({exc}): run this as the station's user (sudo -u USER webperf3 pair)", file=sys.stderr)
        return ExitStatus.USAGE
    url = f"{station_url(options)}pair?code={make_code(secret, time.time())}"
    qr = segno.make_qr(url)
    # Half blocks (two rows of modules a line) where the terminal takes UTF-8;
    # full blocks, drawn in ANSI colours, where it does not.
    compact = (getattr(sys.stdout, "encoding", "") or "").lower().replace("-", "") == "utf8"
    qr.terminal(out=sys.stdout, compact=compact)
    print(f"\nScan this with the phone to pair it as an admin device (it may then start surveys and edit tests),\nor open: {url}")
    print("The code is good once, for 10 minutes. `webperf3 pair --list` shows the paired devices.")
    return ExitStatus.SUCCESS


def _devices(options: PairOptions) -> int:
    revoke: int | None = None
    if options.revoke is not None and options.revoke != "all":
        try:
            revoke = int(options.revoke)
        except ValueError:
            print(f"webperf3 pair: --revoke takes a device's id (from --list) or 'all', not {printable(options.revoke, 40)!r}", file=sys.stderr)
            return ExitStatus.USAGE
    if not (options.log_dir / DB_NAME).exists():
        # Nothing to list or revoke; and no book is made where no station ran.
        print(f"no paired devices: no station has run with --log-dir {options.log_dir}")
        return ExitStatus.SUCCESS if options.revoke is None else ExitStatus.USAGE
    try:
        with SurveyBook.open(options.log_dir) as book:
            if options.revoke is not None:
                count = book.revoke_devices(revoke)
                if revoke is not None and count == 0:
                    print(f"webperf3 pair: no paired device {revoke} (or it was revoked already): see --list", file=sys.stderr)
                    return ExitStatus.USAGE
                print(f"revoked {count} device{'s' if count != 1 else ''}: {'it' if count == 1 else 'they'} can no longer start surveys or edit tests")
                return ExitStatus.SUCCESS
            found = book.paired_devices()
    except BookError as exc:
        print(f"webperf3 pair: {exc}", file=sys.stderr)
        return ExitStatus.ERROR
    if not found:
        print("no paired devices")
        return ExitStatus.SUCCESS
    print(f"{'ID':>4}  {'Paired':19}  {'From':39}  Device")
    for d in found:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(d.paired_at))
        print(f"{d.id:>4}  {when:19}  {printable(d.address or '-', 39):39}  {printable(d.description or '-', 60)}")
    return ExitStatus.SUCCESS
