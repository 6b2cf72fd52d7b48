"""A port of one's own: the lease table (pure: the time and the ports' state
are given), and the station's holder of it over a real store."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.logs import make_entry
from webperf3.board.leases import (
    LEASE_S,
    LeaseTable,
    PortState,
    describe,
    holder_token,
    normal_address,
    port_states,
    valid_device_id,
)
from webperf3.board.leasing import Holders, Leases
from webperf3.store.results import ResultsStore

NOW = 1_800_000_000.0
PHONE, LAPTOP = "10.0.0.5", "10.0.0.9"


def idle(*ports: int) -> list[PortState]:
    return [PortState(port, True) for port in ports]


def test_two_devices_that_open_the_page_before_any_test_get_two_ports() -> None:
    table = LeaseTable()
    phone = table.lease("aaaa", PHONE, "iPhone, Safari", idle(5201, 5202), NOW).lease
    laptop = table.lease("bbbb", LAPTOP, "Linux PC, Firefox", idle(5201, 5202), NOW + 1).lease
    assert phone is not None and laptop is not None
    assert {phone.port, laptop.port} == {5201, 5202}


def test_two_devices_behind_one_address_are_two_devices() -> None:
    table = LeaseTable(per_address=2)
    first = table.lease("aaaa", PHONE, "iPhone, Safari", idle(5201, 5202), NOW).lease
    second = table.lease("bbbb", PHONE, "Android phone, Chrome", idle(5201, 5202), NOW).lease
    assert first and second and first.port != second.port


def test_a_renewed_lease_keeps_its_port_and_runs_from_the_renewal() -> None:
    table = LeaseTable()
    first = table.lease("aaaa", PHONE, "iPhone, Safari", idle(5201, 5202), NOW).lease
    assert first is not None
    again = table.lease("aaaa", PHONE, "iPhone, Safari", idle(5201, 5202), NOW + 60)
    assert again.lease is not None and again.lease.port == first.port
    assert again.lease.expires == NOW + 60 + LEASE_S
    assert not again.changed  # a heartbeat is no news to other pages


def test_a_lease_not_renewed_ends_and_its_port_goes_to_the_next_device() -> None:
    table = LeaseTable(ttl=90)
    assert table.lease("aaaa", PHONE, "iPhone, Safari", idle(5201), NOW).lease is not None
    refused = table.lease("bbbb", LAPTOP, "Mac, Safari", idle(5201), NOW + 89)
    assert refused.lease is None and refused.reason is not None
    assert table.update(idle(5201), NOW + 90)  # ran out: the holders changed
    assert table.holders() == ()
    later = table.lease("bbbb", LAPTOP, "Mac, Safari", idle(5201), NOW + 91).lease
    assert later is not None and later.port == 5201


def test_a_device_coming_back_gets_the_port_it_held_last() -> None:
    table = LeaseTable(ttl=90)
    first = table.lease("aaaa", PHONE, "iPhone, Safari", idle(5201, 5202, 5203), NOW).lease
    assert first is not None and first.port == 5201
    table.update(idle(5201, 5202, 5203), NOW + 200)  # its page slept: the lease ended
    table.lease("bbbb", LAPTOP, "Mac, Safari", idle(5201, 5202, 5203), NOW + 201)
    back = table.lease("aaaa", PHONE, "iPhone, Safari", idle(5201, 5202, 5203), NOW + 300).lease
    assert back is not None and back.port == 5201


def test_a_test_from_the_device_s_address_on_its_port_renews_the_lease() -> None:
    # The phone's page sleeps while its iperf3 app runs: its tests keep the port.
    table = LeaseTable(ttl=90)
    lease = table.lease("aaaa", PHONE, "iPhone, Safari", idle(5201, 5202), NOW).lease
    assert lease is not None
    running = [PortState(lease.port, True, testing_from=PHONE), *idle(5202 if lease.port == 5201 else 5201)]
    table.update(running, NOW + 80)
    logged = [PortState(lease.port, True, last_from=PHONE, last_at=NOW + 150), *idle(5202 if lease.port == 5201 else 5201)]
    assert not table.update(logged, NOW + 160)
    held = table.of("aaaa", PHONE)
    assert held is not None and held.expires == NOW + 150 + 90


def test_another_address_s_test_on_the_port_renews_nothing() -> None:
    table = LeaseTable(ttl=90)
    lease = table.lease("aaaa", PHONE, "iPhone, Safari", idle(5201), NOW).lease
    assert lease is not None
    assert table.update([PortState(5201, True, testing_from=LAPTOP, last_from=LAPTOP, last_at=NOW + 80)], NOW + 95)
    assert table.holders() == ()


def test_every_port_taken_says_who_holds_each() -> None:
    table = LeaseTable()
    table.lease("aaaa", PHONE, "iPhone, Safari", idle(5201, 5202), NOW)
    table.lease("bbbb", LAPTOP, "Windows PC, Edge", idle(5201, 5202), NOW)
    grant = table.lease("cccc", "10.0.0.11", "Android phone, Chrome", idle(5201, 5202), NOW)
    assert grant.lease is None
    assert grant.reason is not None and grant.reason.startswith("every port is taken")
    assert "10.0.0.5 (iPhone, Safari)" in grant.reason and "10.0.0.9 (Windows PC, Edge)" in grant.reason
    assert [(h.port, h.address, h.description) for h in grant.holders] == [
        (5201, PHONE, "iPhone, Safari"), (5202, LAPTOP, "Windows PC, Edge"),
    ]


def test_a_flood_of_ids_from_one_address_leaves_ports_for_the_others() -> None:
    table = LeaseTable(ttl=90)
    ports = idle(5201, 5202, 5203, 5204)
    granted = [table.lease(f"fake{i}", "10.0.0.66", "curl", ports, NOW).lease for i in range(500)]
    assert sum(g is not None for g in granted) == 2  # half the ports, at most
    refused = table.lease("fake9999", "10.0.0.66", "curl", ports, NOW)
    assert refused.lease is None and refused.reason and "10.0.0.66" in refused.reason
    assert table.lease("real", PHONE, "iPhone, Safari", ports, NOW).lease is not None
    assert table.lease("real2", LAPTOP, "Mac, Safari", ports, NOW).lease is not None
    # Ids that never heartbeat: their leases run out, the real ones' are renewed.
    table.lease("real", PHONE, "iPhone, Safari", ports, NOW + 60)
    table.lease("real2", LAPTOP, "Mac, Safari", ports, NOW + 60)
    table.update(ports, NOW + 100)
    assert {h.device for h in table.holders()} == {"real", "real2"}


def test_an_ipv6_host_s_addresses_count_as_one() -> None:
    table = LeaseTable(ttl=90)
    ports = idle(5201, 5202, 5203, 5204)
    got = [table.lease(f"x{i}", f"2001:db8::{i + 1:x}", "curl", ports, NOW).lease for i in range(10)]
    assert sum(g is not None for g in got) == 2


def test_never_a_down_port_and_a_lease_moves_off_a_port_that_stays_down() -> None:
    table = LeaseTable(ttl=90, down_grace=15)
    ports = [PortState(5201, False), *idle(5202, 5203)]
    lease = table.lease("aaaa", PHONE, "iPhone, Safari", ports, NOW).lease
    assert lease is not None and lease.port == 5202
    down = [PortState(5201, True), PortState(5202, False), *idle(5203)]
    assert not table.update(down, NOW + 1)  # a server restarting for a second changes nobody's port
    assert table.update(down, NOW + 16)
    moved = table.of("aaaa", PHONE)
    assert moved is not None and moved.port in (5201, 5203)


def test_no_server_up_says_so() -> None:
    grant = LeaseTable().lease("aaaa", PHONE, "iPhone, Safari", [PortState(5201, False)], NOW)
    assert grant.lease is None and grant.reason == "no iperf3 server is up on this station right now"
    assert LeaseTable().lease("aaaa", PHONE, "iPhone, Safari", [], NOW).reason == "no iperf3 server runs on this station"


def test_a_port_someone_else_is_testing_on_comes_after_an_idle_one() -> None:
    ports = [PortState(5201, True, testing_from="10.0.0.77"), *idle(5202)]
    lease = LeaseTable().lease("aaaa", PHONE, "iPhone, Safari", ports, NOW).lease
    assert lease is not None and lease.port == 5202


def test_a_port_another_address_used_lately_comes_after_a_quiet_one() -> None:
    ports = [PortState(5201, True, last_from="10.0.0.77", last_at=NOW - 60), PortState(5202, True, last_from="10.0.0.78", last_at=NOW - 3600)]
    lease = LeaseTable().lease("aaaa", PHONE, "iPhone, Safari", ports, NOW).lease
    assert lease is not None and lease.port == 5202


def test_a_port_whose_lease_just_ended_is_left_to_its_device_while_others_are_free() -> None:
    table = LeaseTable(ttl=90)
    table.lease("aaaa", PHONE, "iPhone, Safari", idle(5201, 5202), NOW)
    table.update(idle(5201, 5202), NOW + 100)
    lease = table.lease("bbbb", LAPTOP, "Mac, Safari", idle(5201, 5202), NOW + 101).lease
    assert lease is not None and lease.port == 5202


def test_a_port_this_address_tested_on_last_is_preferred() -> None:
    ports = [*idle(5201), PortState(5202, True, last_from=PHONE, last_at=NOW - 60)]
    lease = LeaseTable().lease("aaaa", PHONE, "iPhone, Safari", ports, NOW).lease
    assert lease is not None and lease.port == 5202


def test_a_released_port_is_free_at_once() -> None:
    table = LeaseTable()
    table.lease("aaaa", PHONE, "iPhone, Safari", idle(5201), NOW)
    assert table.release("aaaa", PHONE, NOW + 5)
    assert table.lease("bbbb", LAPTOP, "Mac, Safari", idle(5201), NOW + 6).lease is not None


def test_a_port_that_is_gone_ends_its_lease() -> None:
    table = LeaseTable()
    table.lease("aaaa", PHONE, "iPhone, Safari", idle(5201), NOW)
    assert table.update(idle(5202), NOW + 1)
    assert table.holders() == ()


@pytest.mark.parametrize(
    ("agent", "described"),
    [
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", "iPhone, Safari"),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36", "Android phone, Chrome"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36 Edg/124.0", "Windows PC, Edge"),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", "Linux PC, Firefox"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15", "Mac, Safari"),
        ("curl/8.5.0", "curl"),
        ("python-requests/2.31", "python-requests"),
        ("<script>alert(1)</script>", "unknown device"),
        ("A" * 500, "A" * 24),
        ("", "unknown device"),
        (None, "unknown device"),
    ],
)
def test_a_device_is_described_from_its_user_agent_in_a_few_plain_words(agent: str | None, described: str) -> None:
    assert describe(agent) == described


@pytest.mark.parametrize(("value", "valid"), [("0123abcd0123abcd", True), ("a", True), ("a" * 64, True), ("a" * 65, False), ("", False),
                                              ("é", False), ("a b", False), ("<b>", False), (7, False), (None, False)])
def test_a_device_id_is_short_ascii(value: object, valid: bool) -> None:
    assert valid_device_id(value) is valid


def test_the_fleet_s_status_and_the_newest_tests_make_the_ports_states() -> None:
    servers = {5201: {"state": "testing", "client": "::ffff:10.0.0.5"}, 5202: {"state": "restarting"}, 5203: {"state": "idle"}}
    states = port_states([5201, 5202, 5203, 5204], servers, {5203: ("10.0.0.9", NOW)})
    assert states == [
        PortState(5201, True, testing_from="10.0.0.5"),
        PortState(5202, False),
        PortState(5203, True, last_from="10.0.0.9", last_at=NOW),
        PortState(5204, True),  # not the fleet's: a station reading logs only
    ]
    assert normal_address("::ffff:192.168.1.7") == "192.168.1.7" and normal_address("fe80:0::1") == "fe80::1"


def test_a_holder_token_names_a_device_without_giving_its_id() -> None:
    token = holder_token(b"secret", "0123abcd0123abcd", PHONE)
    assert "0123abcd" not in token and token == holder_token(b"secret", "0123abcd0123abcd", PHONE)
    assert token != holder_token(b"secret", "0123abcd0123abcd", LAPTOP) != holder_token(b"other", "0123abcd0123abcd", PHONE)


# -- the station's holder ----------------------------------------------------------------------


def test_the_station_s_leases_tell_listeners_of_new_holders_and_expiry_not_of_heartbeats(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    clock = [NOW]
    leases = Leases(store, lambda: [5201, 5202], clock=lambda: clock[0])
    heard: list[Holders] = []
    leases.subscribe(heard.append)
    servers = [{"port": 5201, "state": "idle"}, {"port": 5202, "state": "idle"}]
    answer = leases.lease("aaaa", PHONE, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Safari/604.1", servers)
    assert answer["port"] == 5201 and answer["reason"] is None and answer["expires"] == NOW + LEASE_S
    assert [h.ports for h in heard] == [({"port": 5201, "holder": answer["holder"], "address": PHONE, "device": "iPhone, Safari"},)]
    assert "aaaa" not in repr(heard)
    clock[0] += 30
    leases.lease("aaaa", PHONE, None, servers)  # a heartbeat
    assert len(heard) == 1
    clock[0] += 200
    assert leases.tick(servers)
    assert heard[-1].ports == () and heard[-1].version > heard[0].version


def test_the_station_s_leases_are_renewed_by_a_test_in_the_store(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    clock = [NOW]
    leases = Leases(store, lambda: [5201], clock=lambda: clock[0])
    servers = [{"port": 5201, "state": "idle"}]
    assert leases.lease("aaaa", PHONE, None, servers)["port"] == 5201
    (tmp_path / "port-5201.json").write_bytes(make_entry("tcp", client=PHONE, at=NOW + 70))  # the phone's app ran a test
    store.refresh()
    clock[0] += 120
    assert not leases.tick(servers)
    assert leases.held() == {5201}
