// A running test, moving: the station samples each running test's byte
// counters a few times a second and sends {"type": "progress", "tests":
// [...]}. Each running port's status cell shows its current rates, the time
// elapsed and a small sparkline; the final result replaces them when the log
// entry lands (the port's "results" or "servers" message). The device panel
// shows one port's test large (`fillLive`): the test this device runs.

import { el } from "./dom.js";
import { formatRate } from "./format.js";

const HISTORY = 40; // samples kept per port: 10-20 s at the station's pace
const SVG = "http://www.w3.org/2000/svg";

export class ProgressView {
  constructor() {
    this.tests = new Map(); // port → {latest, history: [{up, down}]}
  }

  // Returns the ports whose figures changed.
  apply(message) {
    const seen = new Set();
    for (const test of message.tests || []) {
      if (typeof test.port !== "number") continue;
      seen.add(test.port);
      const entry = this.tests.get(test.port) || { history: [] };
      if (entry.latest && test.elapsed < entry.latest.elapsed) entry.history = []; // a new test on the port
      entry.latest = test;
      entry.history.push({ up: test.upload_bps, down: test.download_bps });
      if (entry.history.length > HISTORY) entry.history.shift();
      this.tests.set(test.port, entry);
    }
    return seen;
  }

  // The test on this port is over (its result landed, or its server is idle).
  end(port) {
    this.tests.delete(port);
  }

  has(port) {
    return this.tests.has(port);
  }

  // The port's live figures and their history, or null when nothing runs there.
  entry(port) {
    return this.tests.get(port) || null;
  }

  // A node for the port's status cell, or null when nothing runs there.
  node(port) {
    const entry = this.tests.get(port);
    if (!entry) return null;
    const box = el("span", { cls: "progress" });
    box.dataset.port = String(port);
    this.fill(box, entry);
    return box;
  }

  // Update a node already on the page in place: a full re-render four times
  // a second would restart every row's animation and lose a phone's scroll.
  update(port, root) {
    const entry = this.tests.get(port);
    const box = root.querySelector(`.progress[data-port="${port}"]`);
    if (!entry || !box) return false;
    this.fill(box, entry);
    return true;
  }

  fill(box, entry) {
    const test = entry.latest;
    const parts = [];
    if (test.download_bps !== null && test.download_bps !== undefined) parts.push(`↓ ${formatRate(test.download_bps)}`);
    if (test.upload_bps !== null && test.upload_bps !== undefined) parts.push(`↑ ${formatRate(test.upload_bps)}`);
    const rates = parts.length ? parts.join("  ") : test.protocol === "UDP" ? "UDP test running" : "testing";
    const elapsed = typeof test.elapsed === "number" ? `${test.elapsed.toFixed(0)} s` : "";
    const figures = el("span", { text: rates, cls: "progress-rates" });
    figures.title = "live, from the station's connection counters; the final figures come from iperf3's log";
    box.replaceChildren(figures, el("span", { text: elapsed, cls: "progress-elapsed" }), sparkline(entry.history));
  }
}

// Who measured a live download figure: the client's acknowledgements (TCP)
// say what it received; a UDP sender's count is only what the station sent.
function liveDownloadSide(test) {
  return test.download_measured_by === "client" ? "received by the client" : "sent by the station";
}

// The device panel's large figures of one port (dashboard.js picks it: the
// port testing from this device's address, else the one the station gave
// it). Always the same boxes, "—" while nothing runs: the panel keeps its
// height, so the port and the QR code below do not jump when a test starts.
//   state: {port, entry (this.tests' of the port, or null), server (its status), mine (the test is from this device)}
export function fillLive(box, { port, entry = null, server = null, mine = false }) {
  const known = port !== null && port !== undefined;
  box.dataset.port = known ? String(port) : "";
  const test = entry ? entry.latest : null;
  box.dataset.state = test ? (mine ? "mine" : "other") : server && server.state === "testing" ? "busy" : "idle";
  let said;
  if (test && mine) said = `Your test on port ${port}, live`;
  else if (test) said = `Port ${port}: a test${server && server.client ? ` from ${server.client}` : ""} is running`;
  else if (server && server.state === "testing") said = mine ? `Your test on port ${port} is starting…` : `Port ${port} is busy${server.client ? `: a test from ${server.client}` : ""}`;
  else if (server && server.state !== "idle") said = `Port ${port}: its iperf3 server is ${server.state}`;
  else if (!known) said = "Your test's rate shows here while it runs";
  else said = `Port ${port} is free: start your test`;
  const parts = liveParts(box);
  parts.state.textContent = said;
  parts.elapsed.textContent = test && typeof test.elapsed === "number" ? `${test.elapsed.toFixed(0)} s` : "";
  const measured = (bps) => bps !== null && bps !== undefined;
  setFigure(parts.download, test && test.download_bps, test && measured(test.download_bps) ? liveDownloadSide(test) : "");
  setFigure(parts.upload, test && test.upload_bps, test && measured(test.upload_bps) ? "received by the station" : "");
  const spark = sparkline(entry ? entry.history : []);
  parts.spark.replaceWith(spark);
  parts.spark = spark;
}

// The live box's nodes, made once: four updates a second change their text
// in place (a node replaced under a finger, or a screen reader, is lost).
function liveParts(box) {
  if (box.liveParts) return box.liveParts;
  const head = el("p", { cls: "live-head" });
  const state = el("span", { cls: "live-state" });
  const elapsed = el("span", { cls: "progress-elapsed" });
  head.append(state, elapsed);
  const figure = (label, side) => {
    const node = el("div", { cls: `live-figure ${side}` });
    node.dataset.side = side;
    const rate = el("span", { cls: "live-rate" });
    const number = el("strong");
    const unit = el("span", { cls: "live-unit" });
    rate.append(number, unit);
    const measuredBy = el("span", { cls: "side" });
    node.append(el("span", { text: label, cls: "live-label" }), rate, measuredBy);
    return { node, number, unit, side: measuredBy };
  };
  const download = figure("↓ Download", "download");
  const upload = figure("↑ Upload", "upload");
  const figures = el("div", { cls: "live-figures" });
  figures.title = "live, from the station's connection counters; the final figures come from iperf3's log";
  figures.append(download.node, upload.node);
  const spark = sparkline([]);
  box.replaceChildren(head, figures, spark);
  box.liveParts = { state, elapsed, download, upload, spark };
  return box.liveParts;
}

function setFigure(figure, bps, side) {
  if (bps === null || bps === undefined) {
    figure.number.textContent = "—";
    figure.unit.textContent = "";
  } else {
    const [number, unit] = formatRate(bps).split(" "); // the figure large, its unit small
    figure.number.textContent = number;
    figure.unit.textContent = ` ${unit}`;
  }
  figure.side.textContent = side;
}

function sparkline(history) {
  const width = 96;
  const height = 22;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none"); // stretched across the device panel's live box
  svg.setAttribute("class", "sparkline");
  svg.setAttribute("aria-hidden", "true");
  const max = Math.max(1, ...history.flatMap((h) => [h.up || 0, h.down || 0]));
  for (const [key, cls] of [["down", "spark-down"], ["up", "spark-up"]]) {
    const values = history.map((h) => h[key]);
    if (!values.some((v) => v !== null && v !== undefined)) continue;
    const step = history.length > 1 ? width / (HISTORY - 1) : 0;
    const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 1 - ((v || 0) / max) * (height - 2)).toFixed(1)}`);
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", points.join(" "));
    line.setAttribute("class", cls);
    svg.append(line);
  }
  return svg;
}
