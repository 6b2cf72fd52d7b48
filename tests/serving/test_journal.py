"""A line another library repeats with load, not with news, reaches the
journal at most once a minute, with a count of the rest."""

from __future__ import annotations

import logging

from webperf3.serving.clients import Summarised, summarise


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_one_line_and_the_next_says_how_many_were_left_out(caplog):
    clock = Clock()
    logger = logging.getLogger("webperf3.test.summarised")
    logger.addFilter(Summarised(60.0, clock=clock))
    with caplog.at_level(logging.WARNING, logger=logger.name):
        for depth in range(1, 4255):  # as waitress under 60 writers in 15 s
            logger.warning("Task queue depth is %d", depth)
        assert [r.getMessage() for r in caplog.records] == ["Task queue depth is 1"]
        clock.now += 61
        logger.warning("Task queue depth is %d", 2)
    assert caplog.records[-1].getMessage() == "Task queue depth is 2 (4253 more like this in the last 60 s)"


def test_the_web_server_summarises_waitress_s_queue_warnings_once():
    from webperf3.serving.httpserver import WebServer

    server = WebServer(lambda environ, start: [], "127.0.0.1", 0, threads=1)
    server.start()
    try:
        summarise("waitress.queue")  # a second call adds no second filter
        filters = [f for f in logging.getLogger("waitress.queue").filters if isinstance(f, Summarised)]
        assert len(filters) == 1
    finally:
        server.stop()


def test_a_rate_limit_allows_a_burst_then_one_action_per_period_and_says_how_long_to_wait():
    from webperf3.serving.clients import RateLimit

    clock = Clock()
    limit = RateLimit(3, 2.0, clock=clock)
    assert [limit.wait("10.0.0.7") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.wait("10.0.0.7") == 2.0  # the fourth at once: wait for the next token
    assert limit.wait("10.0.0.8") == 0.0  # another address has its own
    clock.now += 2.0
    assert limit.wait("10.0.0.7") == 0.0 and limit.wait("10.0.0.7") == 2.0
