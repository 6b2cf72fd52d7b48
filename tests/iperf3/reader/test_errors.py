"""iperf3's error texts read: the tests the station itself cut, and the plain
words beside the raw text, from real server logs of every version."""

from __future__ import annotations

import pytest

from tests.support.paths import DATA
from tests.support.samples import path_of
from webperf3.iperf3.reader.errors import OVERRUN_GRACE_S, interrupted, is_server_terminated, plain_error
from webperf3.iperf3.reader.logs import LogReader

VERSIONS = ["3.9", "3.12", "3.18", "3.21"]


def only(version: str, kind: str):
    (result,) = LogReader(path_of(version, kind), 5201).read().results
    return result


# -- interrupted by the station ---------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_a_test_cut_by_the_server_s_stop_is_interrupted_by_the_station(version):
    r = only(version, "server_stopped")  # the server got SIGTERM 2.5 s into a -t 5 test
    assert r.interrupted and not r.failed and not r.ok
    assert r.error.startswith("interrupt - the server has terminated")  # the raw text kept
    assert r.error_plain == "Interrupted by the station: it was stopped or restarted during the test (not a fault of the place)"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", ["client_killed", "client_sigint", "bidir_killed"])
def test_a_client_s_own_end_is_a_failure_not_an_interruption(version, kind):
    r = only(version, kind)
    assert r.failed and not r.interrupted


@pytest.mark.parametrize("version", VERSIONS)
def test_a_good_test_has_no_error_words(version):
    r = only(version, "tcp")
    assert (r.interrupted, r.error_plain, r.failed) == (False, None, False)


def test_the_termination_texts_of_every_version():
    # 3.9 to 3.18, and 3.20+ with the signal (SIGTERM from the fleet or the
    # parent-death signal; SIGINT, SIGHUP by hand), as iperf_got_sigend writes them.
    for text in ("interrupt - the server has terminated",
                 "interrupt - the server has terminated by signal Terminated(15)",
                 "interrupt - the server has terminated by signal Interrupt(2)",
                 "interrupt - the server has terminated by signal Hangup(1)"):
        assert is_server_terminated(text) and interrupted(text, ran=2.5, asked=5)
    assert not is_server_terminated("the client has terminated") and not is_server_terminated(None)
    assert not interrupted("the client has unexpectedly closed the connection", ran=2.5, asked=5)


def test_a_test_the_stuck_detection_ended_stays_a_failure_of_its_place():
    """A 3.12 server whose UDP client walked out of range waits until the
    station's stuck detection SIGTERMs it, minutes after the test's end: the
    same text as a restart, but a run far longer than asked (measured: -t 20,
    killed at the 40 s limit, its intervals to 40.0 s)."""
    text = "interrupt - the server has terminated"
    assert not interrupted(text, ran=40.0, asked=20)
    assert plain_error(text, interrupted=False).startswith("Ended by the station after running far longer than asked")
    assert interrupted(text, ran=20 + OVERRUN_GRACE_S, asked=20)  # a restart as the test ended
    assert not interrupted(text, ran=20 + 2 + OVERRUN_GRACE_S + 0.1, asked=20, omit=2)
    # No time asked (-t 0, -n): it cannot overrun; nothing ran yet: the station's doing.
    assert interrupted(text, ran=400.0, asked=0) and interrupted(text, ran=None, asked=10)


# -- plain words --------------------------------------------------------------------------

GONE = "The client went away mid-test: out of range, or its app was closed"
LOST = "Lost contact with the client mid-test: out of range, or its app was closed"

#: Raw texts iperf3 servers wrote, and the words beside them. "logged": seen in
#: a server's log (tests/data, or a client cut off by a dropped link, a network
#: namespace's veth, as tests/system/test_versions.py makes one); "source": a
#: server-side message as iperf_strerror composes it in 3.9, 3.18 and 3.21.
PLAIN = [
    # logged, every version (tests/data)
    ("the client has unexpectedly closed the connection", GONE),
    ("the client has terminated", "Stopped by the client (Ctrl-C, or Stop in the app)"),
    ("error - unable to receive cookie at server: Bad file descriptor",
     "Something connected but never started a test (not an iperf3 client, or it gave up)"),
    ("error - unable to receive cookie at server: Transport endpoint is not connected",
     "Something connected but never started a test (not an iperf3 client, or it gave up)"),
    ("error - unable to receive parameters from client: ",
     "Something connected but never started a test (not an iperf3 client, or it gave up)"),
    ("error - unable to start listener for connections: Address already in use",
     "The iperf3 server could not listen on its port: another program holds it"),
    # logged: a client that walked out of range (3.12 -R and --bidir; 3.18 and 3.21 uploads, with
    # --rcv-timeout; 3.21 -R and UDP, with --cntl-ka)
    ("error - unable to write to stream socket: No route to host", GONE),
    ("error - idle timeout for receiving data", "Nothing arrived from the client for too long: it probably walked out of range"),
    ("error - unable to send control message - port may not be available, the other side may have stopped running, etc.: "
     "Transport endpoint is not connected", LOST),
    # logged: 3.21 refusing a test longer than --server-max-duration
    ("error - client's requested duration exceeds the server's maximum permitted limit",
     "Refused: the test asked for longer than the station allows; run a shorter test"),
    # source: what a vanished client's test ends with elsewhere
    ("error - select failed: Bad file descriptor", LOST),
    ("error - unable to receive control message - port may not be available, the other side may have stopped running, "
     "etc.: Connection reset by peer", LOST),
    ("error - unable to receive control message - port may not be available, the other side may have stopped running, "
     "etc.: Connection timed out", LOST),
    ("error - unable to send control message - port may not be available, the other side may have stopped running, etc.: "
     "Broken pipe", LOST),
    ("error - control socket has closed unexpectedly", GONE),
    ("error - unable to write to stream socket: Connection timed out", GONE),  # --snd-timeout (TCP_USER_TIMEOUT)
    ("error - unable to read from stream socket: Connection reset by peer", GONE),
    ("error - unable to write to stream socket: Broken pipe", GONE),
    ("error - stream socket has closed unexpectedly", GONE),
    ("error - unable to receive results: Connection reset by peer",
     "The test ran, but the results could not be exchanged at its end: the client went away"),
    ("error - unable to send results: Broken pipe",
     "The test ran, but the results could not be exchanged at its end: the client went away"),
    ("error - the server is busy running a test. try again later",
     "This port was busy with another test: use another port, or try again"),
    ("error - server test duration expired - test is terminated by the server",  # 3.21's --server-max-duration
     "Ended by the station: the test ran longer than it allows"),
    ("error - received an unknown control message (ensure other side is iperf3 and not iperf)",
     "The client does not speak iperf3 (iperf 2, or something else)"),
    ("error - unable to accept stream connection: Connection timed out",
     "The test's data connection never arrived: a firewall or NAT between client and station?"),
]


@pytest.mark.parametrize(("raw", "words"), PLAIN, ids=[raw[:60] for raw, _ in PLAIN])
def test_common_errors_in_plain_words(raw, words):
    assert plain_error(raw) == words


def test_every_error_text_in_the_sample_logs_has_its_words():
    """Each error any sample log of any version holds (test or not) is one of the above."""
    known = {raw for raw, _ in PLAIN} | {"interrupt - the server has terminated",
                                         "interrupt - the server has terminated by signal Terminated(15)"}
    found = set()
    for path in [*DATA.glob("iperf3.*.json"), *(DATA / "prototype").glob("*.json")]:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith('\t"error":'):
                found.add(line.split(":\t", 1)[1].rstrip(",").strip().strip('"'))
    assert found and found <= known, found - known
    assert all(plain_error(text) for text in found)


def test_an_unknown_error_has_no_words_and_none_is_none():
    assert plain_error(None) is None
    assert plain_error("error - unable to set TCP/SCTP MSS: Invalid argument") is None
    assert plain_error("error - unable to write to stream socket: No buffer space available") is None
    assert plain_error("something nobody wrote") is None
