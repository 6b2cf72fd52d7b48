// "Where are you?": a phone (or laptop) names the place it stands in, and
// sees what to type into its iperf3 app or terminal, with a QR code of
// HOST:PORT. Phone iperf3 apps cannot set --extra-data; the place named here
// labels this device's next tests, because its browser and its iperf3 app
// come from the same address.
//
// Everything the panel shows follows the station: the port is this device's
// own lease (renewed by a heartbeat while the page is open, moved live by the
// "leases" message), the place is the one the station would give its next
// test (cleared on every open page by a new survey, with a line saying why),
// and a websocket reconnect asks for all of it again.

import { getJSON, post } from "./api.js";
import { $, el, option } from "./dom.js";
import { placeNote, surveyChange, testWarnings } from "./devicenotes.js";
import { placeLines } from "./devicetests.js";
import { PlanPicker } from "./planpicker.js";
import { wireBrowserTest } from "./browsertest.js";

const DEVICE_KEY = "webperf3-device";
const HEARTBEAT_S = 30; // until the station says otherwise

// A random id this browser keeps, so two devices behind one address (NAT)
// can be told apart, and each keeps its port; it says nothing about the
// device. Where storage is refused (some private modes) it lasts the page.
let memoryId = null;
function deviceId() {
  const make = () => Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0")).join("");
  try {
    let id = localStorage.getItem(DEVICE_KEY);
    if (!id || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) {
      id = make();
      localStorage.setItem(DEVICE_KEY, id);
    }
    return id;
  } catch {
    memoryId ||= make();
    return memoryId;
  }
}

// Quoted for a POSIX shell and PowerShell alike where possible: single
// quotes, unless the place itself holds one.
export function shellQuote(text) {
  if (!text.includes("'")) return `'${text}'`;
  return `"${text.replace(/[\\"$`]/g, (c) => `\\${c}`)}"`;
}

export function command(host, port, place) {
  const parts = ["iperf3", "-c", host, "-p", String(port), "--bidir"];
  if (place) parts.push("--extra-data", shellQuote(place));
  return parts.join(" ");
}

export class DevicePanel {
  constructor({ onMessage }) {
    this.onMessage = onMessage;
    this.id = deviceId();
    this.device = null; // the station's answer about this device (GET api/device)
    this.lease = null; // this device's lease: its port, or why it has none
    this.leaseVersion = -1;
    this.place = ""; // the place THIS device named, in force now
    this.shared = null; // {place, by}: named by another device at this address
    this.note = ""; // why the place or the port last changed
    this.all = []; // this device's tests of this survey, oldest first
    this.heartbeat = null;
    this.renewing = null;
    this.opened = 0; // websocket connections seen
  }

  async start() {
    $("place-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    $("copy-command").addEventListener("click", () => this.copy());
    // Where you are, tapped on a floor plan (planpicker.js): saved as a typed place is.
    this.picker = new PlanPicker({
      device: this.id,
      typed: () => $("place").value.trim(),
      places: () => [...$("places-used").options].map((o) => o.value),
      onSaved: (answer, name) => this.saved(answer, name),
      onMessage: this.onMessage,
    });
    this.picker.start();
    // "Test from this browser": its result comes back with the live push as
    // any test does; asking again also covers a page whose socket is down.
    wireBrowserTest({ onDone: () => this.loadTests() });
    // A phone's page sleeps while its iperf3 app runs: renew on coming back.
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) this.renew();
    });
    await this.refresh();
  }

  get port() {
    if (this.lease) return this.lease.port;
    return this.device ? this.device.port : null;
  }

  // Ask the station about this device; ``why`` says what changed, for the
  // line shown when the place is no longer the one shown.
  async refresh(why = "") {
    let device;
    try {
      device = await getJSON(`api/device?device=${encodeURIComponent(this.id)}`);
    } catch (err) {
      this.onMessage(`Could not ask the station about this device: ${err.message}`);
      return;
    }
    const before = this.place || (this.shared ? this.shared.place : "");
    this.device = device;
    const own = device.place_mine && device.place ? device.place : "";
    this.shared = !own && device.place ? { place: device.place, by: device.place_named_by } : null;
    if (own !== before) this.placeChanged(placeNote(why, before, own), own);
    if (Array.isArray(device.places)) this.offer(device.places);
    this.takeLease(device.lease);
    this.render();
    await this.loadTests();
  }

  placeChanged(note, place) {
    this.place = place;
    if (note) this.note = note;
    if (!place) $("place").value = "";
  }

  // -- the port of its own ----------------------------------------------------------

  takeLease(lease) {
    if (!lease || typeof lease.version !== "number" || lease.version < this.leaseVersion) return;
    const before = this.lease ? this.lease.port : null;
    this.lease = lease;
    this.leaseVersion = lease.version;
    if (before !== null && lease.port !== null && lease.port !== before) {
      this.note = `Your port is now ${lease.port}: port ${before} is no longer yours (its server stopped, or this page slept too long).`;
    }
    const every = Math.max(5, Number(lease.heartbeat) || HEARTBEAT_S) * 1000;
    if (!this.heartbeat || this.heartbeat.every !== every) {
      if (this.heartbeat) clearInterval(this.heartbeat.timer);
      this.heartbeat = { every, timer: setInterval(() => this.renew(), every) };
    }
  }

  async renew() {
    if (this.renewing) return this.renewing;
    this.renewing = (async () => {
      try {
        this.takeLease(await post("api/device/lease", { device: this.id }));
        this.render();
      } catch (err) {
        console.warn("webperf3: cannot renew this device's port", err);
      } finally {
        this.renewing = null;
      }
    })();
    return this.renewing;
  }

  // Who holds which port changed (the live push): follow this device's
  // port, and ask again when it holds none (one may have come free).
  leasesChanged(message) {
    if (!this.lease || !Array.isArray(message.ports)) return;
    if (typeof message.version === "number" && message.version < this.leaseVersion) return;
    const mine = message.ports.find((p) => p.holder === this.lease.holder);
    if (mine) {
      if (mine.port !== this.lease.port) this.takeLease({ ...this.lease, port: mine.port, version: message.version });
      this.render();
    } else {
      this.renew();
    }
  }

  // The websocket (re)connected. After the first time the station may have
  // restarted (its leases are in memory) or changed while this page was
  // away: everything again.
  connected() {
    this.opened += 1;
    if (this.opened === 1) return; // start() asks already
    this.leaseVersion = -1;
    this.refresh("While this page was not connected, the station changed");
  }

  // -- this device's tests ----------------------------------------------------------

  async loadTests() {
    const device = this.device;
    if (!device || !device.address || !device.survey) return;
    try {
      const since = device.survey.since ?? 0;
      const found = await getJSON(`api/results?client=${encodeURIComponent(device.address)}&since=${since}`);
      this.all = (found.results || []).filter((r) => r.survey === device.survey.id);
      this.renderTests();
    } catch (err) {
      console.warn("webperf3: cannot load this device's tests", err);
    }
  }

  // New results from the live push: keep this device's, of this survey.
  tests(results) {
    const device = this.device;
    if (!device || !device.address) return;
    const survey = device.survey ? device.survey.id : undefined;
    const mine = results.filter((r) => r.client === device.address && (survey === undefined || r.survey === survey));
    if (!mine.length) return;
    const known = new Set(this.all.map((r) => r.id));
    this.all.push(...mine.filter((r) => !known.has(r.id)));
    this.renderTests();
    const unplaced = mine.filter((r) => !r.place && !r.error);
    if (unplaced.length) this.onMessage("Your test landed with no place: name where you are in “This device” before the next one.");
  }

  // One line per place, both directions side by side (devicetests.js).
  renderTests() {
    $("device-results").replaceChildren(...placeLines(this.all)); // this survey's, newest place first
    $("device-tests").hidden = this.all.length === 0;
    const warnings = testWarnings(this.all);
    $("device-warnings").replaceChildren(...warnings.map((text) => el("li", { text })));
    $("device-warnings").hidden = warnings.length === 0;
  }

  // -- what others changed ----------------------------------------------------------

  // Someone changed the survey book. A place named from this device's own
  // address by another device (NAT) is worth saying; a survey change
  // clears every page's place at once (the station forgets every device's
  // place), then the station is asked what holds now.
  bookChanged(message) {
    if (message.kind === "plan" || message.kind === "spot") {
      if (this.picker) this.picker.load(); // a plan added or a place moved: the floor plan as it now is
      return;
    }
    if (message.kind === "claim") {
      if (!this.device || message.address !== this.device.address) return;
      if (message.conflicts && message.conflicts.length > 1) {
        const names = message.conflicts.map((c) => (c.place ? `“${c.place}”` : "no place")).join(", ");
        this.onMessage(`More than one device at ${message.address} (behind the same router) named a place: ${names}. Tests from this address go to the place named last.`);
      }
      // Whose place it is now: this device's, or another's at this address.
      this.refresh(`Another device at this address named ${message.place ? `“${message.place}”` : "no place"}`);
      return;
    }
    if (message.kind === "edit") {
      this.loadTests();
      return;
    }
    const why = surveyChange(message.kind, message.survey);
    if (message.kind === "start" || message.kind === "reopen") {
      // Every place named before it lapses: no need to wait for the station's answer.
      this.placeChanged(placeNote(why, this.place || (this.shared ? this.shared.place : ""), ""), "");
      this.shared = null;
      this.all = [];
      this.render();
      this.renderTests();
    }
    this.refresh(why);
  }

  offer(places) {
    $("places-used").replaceChildren(...places.map((name) => option("", name)));
  }

  async save() {
    const name = $("place").value.trim();
    if (!name) {
      this.onMessage("Type where you are first, for example “Room 101”.");
      return;
    }
    try {
      const spot = this.picker ? this.picker.spotToRename(this.place) : {};
      const answer = await post("api/place", { name, device: this.id, ...spot });
      this.saved(answer, name);
    } catch (err) {
      this.onMessage(`Could not save the place: ${err.message}`);
    }
    this.render();
  }

  // The station's answer to a place named, typed in or tapped on a plan.
  saved(answer, name) {
    this.place = answer.place ?? name;
    this.shared = null;
    this.note = "";
    $("place-saved").textContent = `Saved: tests from ${answer.address || "this device"} are now “${this.place}”.`;
    if (answer.shared_address) this.onMessage(answer.shared_address);
    if (this.picker) this.picker.showMine(this.place);
    this.render();
  }

  render() {
    const device = this.device;
    if (!device) return;
    const host = device.host || location.hostname;
    const port = this.port;
    const has = port !== null && port !== undefined;
    $("device-address").textContent = device.address || "unknown";
    $("device-host").textContent = host;
    $("device-port").textContent = has ? String(port) : "—";
    $("device-place").textContent = this.place || (this.shared ? `“${this.shared.place}”, named by another device at this address (${this.shared.by || "unknown device"})` : "not named yet");
    const lease = this.lease;
    const why = lease && lease.reason ? lease.reason : "no iperf3 server runs on this station";
    $("device-command").textContent = has ? command(host, port, this.place) : `no port for this device right now: ${why}`;
    $("device-lease").textContent = !lease ? "" : has ? `Port ${port} is this device's own while this page is open: no other device is given it.` : `No port is free for this device: ${lease.reason}. The first to come free will be yours.`;
    $("device-lease").classList.toggle("device-lease-none", Boolean(lease) && !has);
    $("device-note").textContent = this.note;
    $("device-note").hidden = !this.note;
    const qr = $("device-qr");
    qr.hidden = !has;
    if (has) {
      qr.src = `qr.svg?port=${encodeURIComponent(port)}`;
      qr.alt = `QR code of ${host}:${port}`;
    }
    if (this.place && !$("place").value) $("place").value = this.place;
  }

  async copy() {
    const text = $("device-command").textContent;
    try {
      await navigator.clipboard.writeText(text);
      $("copy-command").textContent = "Copied";
    } catch {
      // No clipboard over plain http on some phones: select it for a long-press copy.
      const range = document.createRange();
      range.selectNodeContents($("device-command"));
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      $("copy-command").textContent = "Selected: copy it";
    }
    setTimeout(() => ($("copy-command").textContent = "Copy"), 2500);
  }
}
