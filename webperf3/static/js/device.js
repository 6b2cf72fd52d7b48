// "Where are you?": a phone (or laptop) names the place it stands in, and
// sees what to type into its iperf3 app or terminal, with a QR code of
// HOST:PORT. Phone iperf3 apps cannot set --extra-data; the place named here
// labels this device's next tests, because its browser and its iperf3 app
// come from the same address.

import { getJSON, post } from "./api.js";
import { $, el, option } from "./dom.js";
import { formatRate, formatTime } from "./format.js";

const DEVICE_KEY = "webperf3-device";
const MY_TESTS = 6;

// A random id this browser keeps, so two devices behind one address (NAT)
// can be told apart; it says nothing about the device.
function deviceId() {
  let id = localStorage.getItem(DEVICE_KEY);
  if (!id) {
    const bytes = crypto.getRandomValues(new Uint8Array(8));
    id = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    localStorage.setItem(DEVICE_KEY, id);
  }
  return id;
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
    this.device = null;
    this.place = "";
    this.mine = []; // this device's tests of this survey, newest first
  }

  async start() {
    $("place-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    $("copy-command").addEventListener("click", () => this.copy());
    await this.refresh();
  }

  async refresh() {
    try {
      this.device = await getJSON("api/device");
    } catch (err) {
      this.onMessage(`Could not ask the station about this device: ${err.message}`);
      return;
    }
    if (this.device.place && !this.place) this.place = this.device.place;
    if (Array.isArray(this.device.places)) this.offer(this.device.places);
    this.render();
    await this.loadTests();
  }

  async loadTests() {
    if (!this.device || !this.device.address || !this.device.survey) return;
    try {
      const since = this.device.survey.since ?? 0;
      const found = await getJSON(`api/results?client=${encodeURIComponent(this.device.address)}&since=${since}`);
      this.mine = [];
      this.tests((found.results || []).filter((r) => r.survey === this.device.survey.id));
    } catch (err) {
      console.warn("webperf3: cannot load this device's tests", err);
    }
  }

  // New results from the live push (or the first load): keep this device's.
  tests(results) {
    if (!this.device || !this.device.address) return;
    const mine = results.filter((r) => r.client === this.device.address);
    if (!mine.length) return;
    this.mine = [...mine.reverse(), ...this.mine].slice(0, MY_TESTS);
    this.renderTests();
  }

  renderTests() {
    const list = $("device-results");
    list.replaceChildren(
      ...this.mine.map((r) => {
        const li = el("li");
        li.dataset.id = r.id || "";
        const figures = [];
        if (r.error) figures.push(`failed: ${r.error}`);
        if (r.download_bps !== null && r.download_bps !== undefined) figures.push(`download ${formatRate(r.download_bps)} (${r.download_measured_by === "client" ? "received" : "sent by the station"})`);
        if (r.upload_bps !== null && r.upload_bps !== undefined) figures.push(`upload ${formatRate(r.upload_bps)}`);
        li.append(
          el("strong", { text: r.place || "(no place)", cls: "device-test-place" }),
          el("span", { text: ` ${formatTime(r.time)}, port ${r.port}: ${figures.join(", ") || "no figures"}` }),
        );
        return li;
      }),
    );
    $("device-tests").hidden = this.mine.length === 0;
  }

  // Someone changed the survey book. A place named from this device's own
  // address by another device (NAT) is worth saying; a new survey starts
  // this device's list afresh.
  bookChanged(message) {
    if (message.kind === "claim" && this.device && message.address === this.device.address) {
      if (message.conflicts && message.conflicts.length > 1) {
        const names = message.conflicts.map((c) => (c.place ? `“${c.place}”` : "no place")).join(", ");
        this.onMessage(`More than one device at ${message.address} (behind the same router) named a place: ${names}. Tests from this address go to the place named last.`);
      }
      if (message.place !== this.place) {
        this.place = message.place || "";
        this.render();
      }
    }
    if (message.kind !== "claim" && message.kind !== "edit") this.refresh();
    else if (message.kind === "edit") this.loadTests();
  }

  offer(places) {
    const list = $("places-used");
    list.replaceChildren(...places.map((name) => option("", name)));
  }

  async save() {
    const name = $("place").value.trim();
    if (!name) {
      this.onMessage("Type where you are first, for example “Room 101”.");
      return;
    }
    try {
      const answer = await post("api/place", { name, device: deviceId() });
      this.place = answer.place ?? name;
      $("place-saved").textContent = `Saved: tests from ${answer.address || "this device"} are now “${this.place}”.`;
      if (answer.shared_address) this.onMessage(answer.shared_address);
    } catch (err) {
      this.onMessage(`Could not save the place: ${err.message}`);
    }
    this.render();
  }

  render() {
    const device = this.device;
    if (!device) return;
    const host = device.host || location.hostname;
    const port = device.port;
    $("device-address").textContent = device.address || "unknown";
    $("device-host").textContent = host;
    $("device-port").textContent = port === null || port === undefined ? "—" : String(port);
    $("device-place").textContent = this.place || "not named yet";
    $("device-command").textContent = port ? command(host, port, this.place) : "no iperf3 server runs on this station";
    const qr = $("device-qr");
    qr.hidden = !port;
    if (port) {
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
