// Table cells shared by the pages. Everything that came over the network is
// put in the page with textContent (or an attribute), never as markup: a
// client may call itself "<img src=x onerror=alert(1)>" and must appear as
// exactly that text.

import { DASH, UNKNOWN_UDP_HELP, ago, downloadMeasuredBy, exactRate, formatRate, formatTime, quality } from "./format.js";

export function el(tag, { text = "", cls = "", title = "" } = {}) {
  const node = document.createElement(tag);
  if (text) node.textContent = text;
  if (cls) node.className = cls;
  if (title) node.title = title;
  return node;
}

export function cell(text, options = {}) {
  return el("td", { text, ...options });
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
  const time = el("time", { text: formatTime(result.time), title: new Date(result.time * 1000).toString() });
  time.dateTime = new Date(result.time * 1000).toISOString();
  const since = el("span", { text: ago(result.time), cls: "ago" });
  since.dataset.time = String(result.time);
  const both = el("span"); // one flex item on a phone
  both.append(time, " ", since);
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
