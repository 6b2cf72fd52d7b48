"""iperf3's error texts, read: which tests the station itself cut, and a line
in plain words beside the raw text for the common ones.

Pure functions of the text an iperf3 server writes into its log's
``"error"`` (and of how long the test ran). They live in the reader stage,
beside :mod:`.entries`, because they are knowledge of iperf3 — its messages
per version, from ``iperf_error.c``, ``iperf_server_api.c`` and ``main.c``
of 3.9, 3.18 and 3.21 and from real logs of 3.9, 3.12, 3.18 and 3.21
(``tests/data``): the reader puts the answers on each
:class:`~webperf3.store.record.Result` once, and nothing downstream needs to
know an iperf3 message.

How the server writes an error: ``"error - " + iperf_strerror(code)``, to
which iperf3 appends ``": " + strerror(errno)`` for some codes ("error -
select failed: Bad file descriptor"); a few are written bare ("the client
has terminated"); a termination signal gives ``"interrupt - the server has
terminated"``, to which 3.21 (3.20+) adds ``" by signal Terminated(15)"``
(``Interrupt(2)``, ``Hangup(1)``).

**Interrupted by the station.** iperf3 writes the termination text when its
*server* gets SIGTERM, SIGINT or SIGHUP: the fleet stopping it (the
station's stop or restart, ``iperf3/fleet/servers.py``), or the parent-death
signal, which is SIGTERM (``iperf3/fleet/process.py``), when webperf3 is
SIGKILLed or crashes. None of these is the place's doing. The one other
sender of that SIGTERM is the fleet's stuck detection (a test running past
``--max-test-seconds``, its client probably gone): such a test has run far
longer than it asked, and stays a failure of its place (:func:`interrupted`).
"""

from __future__ import annotations

import re

#: iperf3's text for its server stopped by a signal, every version; 3.20+ add " by signal NAME(N)".
SERVER_TERMINATED = "interrupt - the server has terminated"
#: A test killed by a signal after running this much longer than it asked for
#: (plus its omitted seconds) was cut by the stuck detection, not by a stop or
#: restart of the station: the stuck detection strikes minutes after a test's
#: end (``--max-test-seconds``, 300 s by default), a stop or restart at any time.
OVERRUN_GRACE_S = 10.0

_INTERRUPTED = "Interrupted by the station: it was stopped or restarted during the test (not a fault of the place)"
_STUCK = "Ended by the station after running far longer than asked: the client had probably gone (out of range?)"
_GONE = "The client went away mid-test: out of range, or its app was closed"
_LOST = "Lost contact with the client mid-test: out of range, or its app was closed"
_RESULTS = "The test ran, but the results could not be exchanged at its end: the client went away"

#: (what the text holds after "error - ", the plain words), first match wins.
#: Each is one of iperf3's own texts (iperf_strerror, iperf_server_api.c).
_PLAIN: tuple[tuple[str, str], ...] = (
    ("the client has unexpectedly closed the connection", _GONE),
    ("the client has terminated", "Stopped by the client (Ctrl-C, or Stop in the app)"),
    ("select failed", _LOST),
    ("unable to receive control message", _LOST),
    ("unable to send control message", _LOST),
    ("control socket has closed unexpectedly", _GONE),
    ("unable to read from the control socket", _LOST),
    ("unable to write to the control socket", _LOST),
    ("idle timeout for receiving data", "Nothing arrived from the client for too long: it probably walked out of range"),
    ("unable to receive results", _RESULTS),
    ("unable to send results", _RESULTS),
    ("the server is busy running a test", "This port was busy with another test: use another port, or try again"),
    ("client's requested duration exceeds", "Refused: the test asked for longer than the station allows; run a shorter test"),
    ("server test duration expired", "Ended by the station: the test ran longer than it allows"),
    ("unable to receive cookie at server", "Something connected but never started a test (not an iperf3 client, or it gave up)"),
    ("unable to receive parameters from client", "Something connected but never started a test (not an iperf3 client, or it gave up)"),
    ("received an unknown control message", "The client does not speak iperf3 (iperf 2, or something else)"),
    ("unable to start listener for connections", "The iperf3 server could not listen on its port: another program holds it"),
    ("unable to accept stream connection", "The test's data connection never arrived: a firewall or NAT between client and station?"),
)

#: What the system's error adds, for the stream texts ("unable to write to
#: stream socket: Connection timed out"): a timeout or a reset is the client
#: gone; anything else is said as it is.
_STREAM = re.compile(r"(unable to (?:read from|write to) stream socket|stream socket has closed unexpectedly)(?::\s*(.*))?$")
_GONE_ERRNO = ("Connection timed out", "Connection reset by peer", "Broken pipe", "No route to host", "Network is unreachable",
               "Host is unreachable", "Transport endpoint is not connected")


def is_server_terminated(error: str | None) -> bool:
    """Whether *error* is iperf3's text for its server stopped by a signal."""
    return error is not None and error.startswith(SERVER_TERMINATED)


def interrupted(error: str | None, ran: float | None, asked: float | None, omit: float | None = None) -> bool:
    """Whether a test was cut by the station's own stop or restart (or its
    death): iperf3's server-terminated text, and no longer a run than asked.

    *ran*: the seconds the log covers; *asked*: ``-t`` (0 or None for a test
    with no fixed time, ``-t 0`` or ``-n``, which cannot overrun);
    *omit*: ``-O`` seconds."""
    if not is_server_terminated(error):
        return False
    if not asked or ran is None:
        return True
    return ran <= asked + (omit or 0.0) + OVERRUN_GRACE_S


def plain_error(error: str | None, *, interrupted: bool = False) -> str | None:
    """The common iperf3 errors in plain words, for a line beside the raw
    text; None for a test that did not fail or an error not known here."""
    if error is None:
        return None
    if is_server_terminated(error):
        return _INTERRUPTED if interrupted else _STUCK
    text = error.removeprefix("error - ").strip()
    for key, words in _PLAIN:
        if key in text:
            return words
    stream = _STREAM.search(text)
    if stream is not None:
        cause = stream.group(2) or ""
        if not cause or any(cause.startswith(gone) for gone in _GONE_ERRNO):
            return _GONE
    if text.endswith("Connection timed out"):
        return "Timed out: the client stopped answering (out of range?)"
    return None
