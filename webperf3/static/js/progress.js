// A running test, moving: the station samples each running test's byte
// counters a few times a second and sends {"type": "progress", "tests":
// [...]}. Each running port's status cell shows its current rates, the time
// elapsed and a small sparkline; the final result replaces them when the log
// entry lands (the port's "results" or "servers" message).

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

function sparkline(history) {
  const width = 96;
  const height = 22;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
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
