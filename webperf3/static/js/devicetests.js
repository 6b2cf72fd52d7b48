// This device's tests of the survey, one line per place: a surveyor runs an
// upload test and a -R test from one place and wants one line with both
// figures, not two lines to put together. Each figure is named for the side
// that measured it (the station's log: a download is what the station sent,
// unless the client's received figure was logged).
//
//   byPlace(results)      pure: [{place, last, download, upload, tests, failed, error}]
//   placeLines(results)   <li> nodes for the device panel's list (device.js)

import { el } from "./dom.js";
import { formatRate, formatTime } from "./format.js";

// More places than this: the rest are on the History page.
export const PLACE_LINES = 12;

const measured = (value) => value !== null && value !== undefined;
const ms = (value) => `${value.toFixed(value < 10 ? 1 : 0)} ms`;

// The latency under load beside a figure, named for who measured it: a
// browser test's round trips (the browser's), or the station's own while it
// sent an iperf3 TCP download (its log's round-trip times).
function loadedNote(result, side) {
  if (result.method === "browser") {
    const value = side === "download" ? result.latency_download_ms : result.latency_upload_ms;
    return measured(value) ? `latency under load ${ms(value)} (browser), idle ${measured(result.latency_idle_ms) ? ms(result.latency_idle_ms) : "—"}` : null;
  }
  if (side === "download" && measured(result.station_rtt_mean_ms)) return `station's round trip under load ${ms(result.station_rtt_mean_ms)}`;
  return null;
}

function downloadSide(result) {
  if (result.method === "browser") return "received by the browser (browser, HTTP)";
  return result.download_measured_by === "client" ? "received by the client" : "sent by the station";
}

// `results` in any order. Per place, the
// newest good figure of each side, from whichever of its tests measured it
// (an upload test, a -R test, a --bidir test); a failed test never counts
// as 0 Mbit/s, it is counted and its reason kept when it is the newest. Places
// in the order of their newest test, newest first. Pure.
export function byPlace(results) {
  const places = new Map(); // key → line
  const newestFirst = [...results].sort((a, b) => b.time - a.time);
  for (const r of newestFirst) {
    const key = r.place === null || r.place === undefined ? null : String(r.place);
    let line = places.get(key);
    if (!line) {
      line = { place: key, last: r.time, tests: 0, failed: 0, error: null, download: null, upload: null };
      places.set(key, line);
    }
    line.tests += 1;
    if (r.error) {
      line.failed += 1;
      if (line.tests === 1) line.error = r.error_plain || r.error; // the place's newest test failed
      continue;
    }
    if (!line.download && measured(r.download_bps)) line.download = { bps: r.download_bps, side: downloadSide(r), time: r.time, note: loadedNote(r, "download") };
    if (!line.upload && measured(r.upload_bps)) line.upload = { bps: r.upload_bps, side: r.method === "browser" ? "received by the station (browser, HTTP)" : "received by the station", time: r.time, note: loadedNote(r, "upload") };
  }
  return [...places.values()]; // in the order of their newest test
}

// One side of a place's line: its label, the figure and who measured it.
function figure(label, found, missing) {
  const node = el("span", { cls: found ? "mine-figure" : "mine-figure mine-missing" });
  node.dataset.side = label.toLowerCase();
  node.append(el("span", { text: `${label === "Download" ? "↓" : "↑"} ${label}`, cls: "mine-label" }));
  if (found) {
    node.append(el("strong", { text: formatRate(found.bps), cls: "mine-rate" }), el("span", { text: found.side, cls: "side" }));
    if (found.note) node.append(el("span", { text: found.note, cls: "side mine-latency" }));
  } else node.append(el("span", { text: "—", cls: "mine-rate" }), el("span", { text: missing, cls: "side" }));
  return node;
}

export function placeLines(results, limit = PLACE_LINES) {
  const lines = byPlace(results);
  const shown = lines.slice(0, limit).map((line) => {
    const li = el("li", { cls: "mine-place" });
    li.dataset.place = line.place ?? "";
    const head = el("span", { cls: "mine-head" });
    head.append(
      el("strong", { text: line.place ?? "(no place)", cls: line.place === null ? "device-test-place muted" : "device-test-place" }),
      " ",
      el("span", { text: formatTime(line.last), cls: "mine-time" }),
    );
    if (line.failed) head.append(" ", el("span", { text: `${line.failed} failed`, cls: "mine-failed" }));
    li.append(
      head,
      figure("Download", line.download, "not measured yet: a -R test"),
      figure("Upload", line.upload, "not measured yet: a test without -R"),
    );
    if (line.error) li.append(el("span", { text: `failed: ${line.error}`, cls: "mine-error" }));
    return li;
  });
  if (lines.length > limit) {
    shown.push(el("li", { text: `…and ${lines.length - limit} more places on the History page`, cls: "mine-more muted-plain" }));
  }
  return shown;
}
