"""The phone flows in WebKit, the engine of every iPhone browser (Debian's
WebKitGTK MiniBrowser under WebDriver; see tests/support/webkit.py), each
against a real station process on 127.0.0.1:

* pairing: an unpaired phone's "New survey" is refused with the page's
  message; the pairing URL, opened as a phone's camera opens a scanned QR
  (a top-level load from no page), sets the SameSite=Strict HttpOnly cookie
  that the page's own requests then carry, so "New survey" works; and
  opened from a link on another site, as some QR readers open it, it pairs
  all the same and that site's request changes nothing;
* tapping where one stands on the floor plan names the device's place
  ("Spot 1") at the tapped point; a tap by a place's dot picks that place;
* "Test from this browser": its phases in order, the Web Worker's
  websockets measure both directions, and the station records the test
  with WebKit's agent.

The window is asked for 390x844 (an iPhone's viewport); what WebKitGTK
gives is checked to be in the phone layout (under 760 px wide)."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support import images
from tests.support.station import Station
from tests.support.waiting import wait_until
from tests.support.webkit import PHONE

pytestmark = pytest.mark.timeout(150)


def call(url: str, method: str, body: Any, content_type: str = "application/json") -> dict:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def text(driver: Any, element_id: str) -> str:
    return driver.execute_script("const n = document.getElementById(arguments[0]); return n ? n.textContent : ''", element_id) or ""


def open_phone(driver: Any, url: str) -> None:
    """The dashboard in a phone-sized window, once its live push is up."""
    driver.set_window_size(*PHONE)
    driver.get(url)
    wait_until(lambda: text(driver, "connection") == "live", 15, 0.2, "the page to be live")
    width = driver.execute_script("return innerWidth")
    assert width <= 760, f"the window is {width} px wide: not a phone's layout"
    print(f"WebKit window: {width}x{driver.execute_script('return innerHeight')} CSS px")


def click(driver: Any, element_id: str) -> None:
    driver.find_element("id", element_id).click()


def answer_prompt(driver: Any, reply: str) -> None:
    """Type ``reply`` into the page's window.prompt and accept it."""
    from selenium.common.exceptions import NoAlertPresentException

    def prompt() -> Any:
        try:
            return driver.switch_to.alert
        except NoAlertPresentException:
            return None

    wait_until(prompt, 10, 0.1, "the page's prompt")
    alert = driver.switch_to.alert
    alert.send_keys(reply)
    alert.accept()


# -- pairing --------------------------------------------------------------------------------


@pytest.fixture
def unpaired(tmp_path: Path) -> Iterator[Station]:
    """A station without --open: only paired devices may start a survey."""
    running = Station(tmp_path / "logs", servers=0)
    yield running
    running.stop()


def test_an_unpaired_iphone_is_refused_then_the_qr_s_url_pairs_it(webkit: Any, unpaired: Station) -> None:
    open_phone(webkit, unpaired.url)
    click(webkit, "new-survey")
    answer_prompt(webkit, "Floor 2")
    wait_until(lambda: "Only a paired device can do this" in text(webkit, "message"), 10, 0.2, "the refusal")
    assert "webperf3 pair" in text(webkit, "message")
    assert "Floor 2" not in [s["name"] for s in unpaired.api("api/surveys")["surveys"]]

    # The camera opens the scanned URL as a top-level load coming from no page.
    url = unpaired.api("api/pairing")["url"]  # asked from 127.0.0.1, as the station's own screen asks
    webkit.get(url)
    assert text(webkit, "pair-title") == "Paired", text(webkit, "pair-text")
    assert webkit.execute_script("return document.cookie") == ""  # HttpOnly: no script reads it
    webkit.find_element("link text", "Open the dashboard").click()
    wait_until(lambda: text(webkit, "connection") == "live", 15, 0.2, "the page to be live")
    click(webkit, "new-survey")
    answer_prompt(webkit, "Floor 2")
    wait_until(lambda: text(webkit, "survey-name") == "Floor 2", 10, 0.2, "the new survey")
    assert "Floor 2" in [s["name"] for s in unpaired.api("api/surveys")["surveys"]]


@contextmanager
def elsewhere(body: str) -> Iterator[str]:
    """A page of another site: http://localhost:P/ (another site than the
    station's 127.0.0.1 for cookies), served on loopback by the test."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_link_on_another_site_pairs_an_iphone_and_that_site_cannot_use_the_cookie(webkit: Any, unpaired: Station) -> None:
    # Some camera apps and QR readers open the link from a page of their own:
    # a navigation from another site. SameSite=Strict: the answer's cookie is
    # stored all the same, and the station's own pages carry it after.
    with elsewhere(f'<a id="scan" href="{unpaired.api("api/pairing")["url"]}">scanned</a>') as page:
        webkit.set_window_size(*PHONE)
        webkit.get(page)
        webkit.find_element("id", "scan").click()
        wait_until(lambda: text(webkit, "pair-title"), 10, 0.2, "the pairing page")
    assert text(webkit, "pair-title") == "Paired", text(webkit, "pair-text")
    webkit.find_element("link text", "Open the dashboard").click()
    wait_until(lambda: text(webkit, "connection") == "live", 15, 0.2, "the page to be live")
    click(webkit, "new-survey")
    answer_prompt(webkit, "Floor 2")
    wait_until(lambda: text(webkit, "survey-name") == "Floor 2", 10, 0.2, "the new survey")

    # That other site's page, in the same (paired) browser: its request to
    # the station does not change anything (no cookie with it; Origin refused).
    with elsewhere("<p>elsewhere</p>") as page:
        webkit.get(page)
        status = webkit.execute_async_script(
            """const done = arguments[arguments.length - 1];
            fetch(arguments[0], {method: 'POST', mode: 'no-cors', credentials: 'include', headers: {'Content-Type': 'text/plain'},
              body: '{"name": "Hacked"}'}).then(() => done('sent'), () => done('failed'));""",
            unpaired.url + "api/surveys",
        )
    assert status in ("sent", "failed")
    assert "Hacked" not in [s["name"] for s in unpaired.api("api/surveys")["surveys"]]


# -- tapping where one stands on the floor plan --------------------------------------------


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    """A station on a trusted network (--open): a plan is uploaded over the API."""
    running = Station(tmp_path / "logs", servers=0, extra=("--open",))
    yield running
    running.stop()


def tap_at(driver: Any, element: Any, x: float, y: float) -> None:
    """A tap at fractions (x, y) of ``element`` as shown, by a WebDriver
    touch pointer. WebKitGTK (a desktop port, no touch screen under Xvfb)
    delivers it as a mouse click (pointerType "mouse", no touch events);
    the picker listens for "click", which an iPhone's tap makes too."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.interaction import POINTER_TOUCH
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    width, height = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height]", element)
    # W3C actions' offsets are from the element's centre.
    dx, dy = round(width * (x - 0.5)), round(height * (y - 0.5))
    actions = ActionBuilder(driver, mouse=PointerInput(POINTER_TOUCH, "finger"))
    actions.pointer_action.move_to(element, dx, dy).pointer_down().pointer_up()
    actions.perform()


def test_an_iphone_taps_where_it_stands_on_the_plan(webkit: Any, station: Station) -> None:
    plan = call(f"{station.url}api/plans?name=Ground%20floor", "POST", images.png(800, 600), "image/png")["id"]
    call(f"{station.url}api/places/spot", "PUT", {"name": "Kitchen", "plan": plan, "x": 0.7, "y": 0.3})
    open_phone(webkit, station.url)
    wait_until(lambda: webkit.execute_script("return !document.getElementById('plan-picker').hidden"), 10, 0.2, "the plan picker")
    webkit.find_element("css selector", "#plan-picker summary").click()
    image = webkit.find_element("id", "plan-pick-image")
    wait_until(lambda: webkit.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image), 10, 0.2, "the plan's image")
    tap_at(webkit, image, 0.2, 0.8)
    wait_until(lambda: text(webkit, "device-place") == "Spot 1", 10, 0.2, "the place named at the tap")
    spots = {s["place"]: s for s in station.api("api/plans")["spots"]}
    assert spots["Spot 1"]["plan"] == plan
    assert abs(spots["Spot 1"]["x"] - 0.2) < 0.02 and abs(spots["Spot 1"]["y"] - 0.8) < 0.02, spots
    # A tap near the Kitchen's dot picks the Kitchen, and does not move it.
    tap_at(webkit, image, 0.71, 0.29)
    wait_until(lambda: text(webkit, "device-place") == "Kitchen", 10, 0.2, "the place tapped")
    kitchen = next(s for s in station.api("api/plans")["spots"] if s["place"] == "Kitchen")
    assert (kitchen["x"], kitchen["y"]) == (0.7, 0.3)


# -- "Test from this browser" ----------------------------------------------------------------


def test_an_iphone_tests_from_its_browser_and_the_station_records_it(webkit: Any, tmp_path: Path) -> None:
    with Station(tmp_path / "logs", servers=0) as station:  # the websocket port on loopback
        open_phone(webkit, station.url)
        # Every phase the status line shows, in order, as the person sees them.
        webkit.execute_script("""const node = document.getElementById("browser-test-status");
            window.phases = [];
            new MutationObserver(() => { const p = node.dataset.phase; if (p && window.phases.at(-1) !== p) window.phases.push(p); })
                .observe(node, { childList: true, characterData: true, subtree: true, attributes: true });""")
        click(webkit, "browser-test")

        def phase() -> str:
            return webkit.execute_script("return document.getElementById('browser-test-status').dataset.phase") or ""

        wait_until(lambda: phase() in ("done", "failed", "busy"), 90, 0.5, "the browser test's end")
        assert phase() == "done", text(webkit, "browser-test-status")
        assert webkit.execute_script("return window.phases") == ["starting", "latency", "download", "upload", "saving", "done"]
        assert "received by this browser" in text(webkit, "browser-test-status")
        [result] = station.api("api/results")["results"]
        assert result["method"] == "browser"
        assert result["download_bps"] > 0 and result["upload_bps"] > 0, result
        assert "Safari" in (result["agent"] or "") and "Chrome" not in result["agent"], result["agent"]
