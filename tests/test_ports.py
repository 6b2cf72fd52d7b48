"""The tests' own port choice: a station's web and websocket ports never
fall inside the iperf3 range chosen just before them (a station started
that way refuses "--ws-port N is one of the iperf3 ports", and its test
fails for nothing)."""

from __future__ import annotations

import pytest

from tests.support import ports


class _Draws:
    """random.Random's stand-in: hands out the given bases in order."""

    bases: list[int] = []

    def __init__(self, _seed: object) -> None:
        pass

    def randrange(self, _low: int, _high: int) -> int:
        return _Draws.bases.pop(0)


def test_a_single_port_is_never_one_just_handed_out_in_a_range(monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = ports.free_ports(10)
    outside = next(p for p in range(fleet[-1] + 50, fleet[-1] + 500) if ports.port_is_free(p))
    monkeypatch.setattr(ports.random, "Random", _Draws)
    _Draws.bases = [fleet[3], fleet[0], outside]  # the first two are free, but inside the range
    assert ports.free_port() == outside
    assert _Draws.bases == []
