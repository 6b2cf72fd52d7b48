// Table cells shared by the pages, and base.tpl's message and "updated"
// lines. Made with dom.js: what came over the network is text, never markup.

import { $, el } from "./dom.js";
import { DASH, UNKNOWN_UDP_HELP, ago, downloadMeasuredBy, exactRate, formatRate, quality, timeParts } from "./format.js";

// A name longer than this is cut to two lines with an ellipsis in the
// table (a 10 kB name made one row 24,768 px tall); a tap or click, or Enter,
// shows it whole. The CSV and JSON keep it whole.
export const NAME_DISPLAY_CHARS = 80;

export function cell(text, options = {}) {
  const classes = (options.cls || "").split(" ");
  if (!classes.includes("name") || !text || text.length <= NAME_DISPLAY_CHARS) return el("td", { text, ...options });
  const td = el("td", { ...options });
  const clamp = el("span", { text, cls: "clamped", title: "tap to see it whole" });
  clamp.tabIndex = 0;
  const toggle = () => clamp.classList.toggle("whole");
  clamp.addEventListener("click", toggle);
  clamp.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      toggle();
    }
  });
  td.append(clamp);
  return td;
}

// An explanation that works on a phone, where there are no tooltips: a
// <details> that opens on a tap.
export function explained(label, help, cls = "") {
  const details = el("details", { cls: `explain ${cls}`.trim() });
  details.append(el("summary", { text: label }), el("span", { text: help, cls: "explain-text" }));
  return details;
}

export function rateCell(bps, { side = "upload", result = null } = {}) {
  const td = cell(formatRate(bps), { cls: "num" });
  if (bps === null || bps === undefined) return td;
  td.title = exactRate(bps);
  if (side === "download" && downloadMeasuredBy(result) === "client") {
    td.append(" ", el("span", { text: "client", cls: "measured-by", title: "received by the client, as its iperf3 reported" }));
  }
  return td;
}

export function timeCell(result) {
  const td = el("td", { cls: "time" });
  if (!result) {
    td.textContent = DASH;
    return td;
  }
  // Another day's date on a line of its own: the column stays as narrow as a clock.
  const { day, clock } = timeParts(result.time);
  const time = el("time", { title: new Date(result.time * 1000).toString() });
  if (day) time.append(el("span", { text: day, cls: "day" }), " ");
  time.append(clock);
  time.dateTime = new Date(result.time * 1000).toISOString();
  const since = el("span", { text: ago(result.time), cls: "ago" });
  since.dataset.time = String(result.time);
  const both = el("span"); // one flex item on a phone
  both.append(time, " ", since);
  td.append(both);
  return td;
}

// Why a test failed: iperf3's common errors in plain words (the station's
// error_plain) over iperf3's own text, which stays for whoever knows it. A
// test the station itself cut (its stop or restart) is no failure of the
// place: it says so, in the warning colour rather than the failure's.
export function errorCell(result) {
  const error = result ? result.error : null;
  if (error === null || error === undefined) return cell("", { cls: "error" });
  const plain = result.error_plain;
  const td = el("td", { cls: result.interrupted ? "error interrupted" : "error" });
  td.dataset.interrupted = result.interrupted ? "1" : "";
  const both = el("span"); // one flex item on a phone
  if (plain && plain !== error) {
    both.append(el("span", { text: plain, cls: "error-plain" }), el("span", { text: `iperf3: ${error}`, cls: "error-raw" }));
  } else {
    both.append(el("span", { text: error || "failed", cls: "error-plain" }));
  }
  td.append(both);
  return td;
}

export function qualityCell(result) {
  const parts = quality(result);
  const td = cell(parts.length ? "" : DASH, { cls: "quality" });
  if (!parts.length) return td;
  const all = el("span");
  parts.forEach((part, i) => {
    const node = part.unknown ? explained(part.unknown, UNKNOWN_UDP_HELP, "unknown") : el("span", { text: part.text });
    all.append(...(i ? [" ", node] : [node])); // the space collapses between blocks
  });
  td.append(all);
  return td;
}

export function refreshAgo(root = document) {
  for (const node of root.querySelectorAll(".ago[data-time]")) node.textContent = ago(Number(node.dataset.time));
}

// base.tpl's message line, on every page: shown for 10 s, then hidden again.
let messageTimer = null;
export function showMessage(text) {
  const node = $("message");
  node.textContent = text;
  node.hidden = false;
  clearTimeout(messageTimer);
  messageTimer = setTimeout(() => (node.hidden = true), 10000);
}

// base.tpl's "updated" line, on every page: when the page last had fresh data.
export function showUpdated() {
  $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}
