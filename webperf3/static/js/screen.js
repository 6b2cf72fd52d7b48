// The station's own screen (/screen): a tile per port, read from across a
// room. The same push messages and modules as the dashboard (socket.js
// reconnects after the network went away; progress.js keeps each running
// test's live figures); nothing here changes anything on the station.

import { getJSON } from "./api.js";
import { $, el } from "./dom.js";
import { ago, formatRate } from "./format.js";
import { bothRates } from "./placestable.js";
import { ProgressView } from "./progress.js";
import { LiveSocket } from "./socket.js";

const PLACES_RELOAD_MS = 3000;
const PAIR_QR_RELOAD_MS = 20_000; // the station gives a new code once one is used
const DIM_AFTER_MS = 5 * 60_000; // no test for this long: dimmed, against burn-in

const state = { rows: new Map(), servers: new Map(), survey: null, lastActive: Date.now() };
const progress = new ProgressView();
let placesTimer = null;

function ports() {
  return [...new Set([...state.servers.keys(), ...state.rows.keys()])].sort((a, b) => a - b);
}

// Columns for the tiles: a wide grid on a TV, two across on the 7" screen.
function columns(count) {
  if (count <= 1) return 1;
  if (count <= 4) return 2;
  if (count <= 6) return 3;
  if (count <= 8) return 4;
  return 5;
}

function tile(port) {
  const server = state.servers.get(port) || null;
  const row = state.rows.get(port) || null;
  const entry = progress.entry(port);
  const node = el("section", { cls: "tile" });
  node.dataset.port = String(port);
  let kind = "idle";
  let said = "idle";
  if (entry || (server && server.state === "testing")) {
    kind = "testing";
    const client = (entry && entry.latest.client) || (server && server.client);
    said = client ? `testing: ${client}` : "testing";
  } else if (server && server.state !== "idle") {
    kind = "down";
    said = server.state;
  }
  node.dataset.state = kind;
  // One line per direction (a bidir test has two), large; the seconds under them.
  const live = el("div", { cls: "tile-live" });
  if (entry) {
    const test = entry.latest;
    const lines = [];
    if (test.download_bps !== null && test.download_bps !== undefined) lines.push(`↓ ${formatRate(test.download_bps)}`);
    if (test.upload_bps !== null && test.upload_bps !== undefined) lines.push(`↑ ${formatRate(test.upload_bps)}`);
    if (!lines.length) lines.push("starting…");
    live.append(...lines.map((text) => el("p", { text, cls: "tile-rate" })));
    if (typeof test.elapsed === "number") live.append(el("p", { text: `${test.elapsed.toFixed(0)} s`, cls: "tile-elapsed" }));
  }
  const latest = row && row.latest;
  const last = el("div", { cls: "tile-last" });
  if (latest) {
    const figures = latest.error ? "failed" : bothRates(latest.download_bps, latest.upload_bps);
    last.append(el("p", { text: latest.place || "no place", cls: "tile-place" }), el("p", { text: `${figures} · ${ago(latest.time)}` }));
  } else {
    last.append(el("p", { text: "no test yet" }));
  }
  node.setAttribute("role", "listitem");
  // The websocket port's row holds the tests run from browsers: it is no
  // iperf3 server, so its tile says what it is rather than "Port N idle".
  const browserRow = !server && latest && latest.method === "browser";
  const heading = browserRow ? "Browser tests" : `Port ${port}`;
  if (browserRow && kind === "idle") said = "browser, HTTP";
  node.append(el("h2", { text: heading, cls: "tile-port" }), el("p", { text: said, cls: "tile-state" }), live, last);
  return node;
}

function render() {
  const list = ports();
  const tiles = $("screen-tiles");
  tiles.style.setProperty("--cols", String(columns(list.length)));
  tiles.style.setProperty("--rows", String(Math.max(1, Math.ceil(list.length / columns(list.length)))));
  tiles.replaceChildren(...list.map(tile));
  if (state.survey) $("screen-survey").textContent = state.survey.name;
  if (list.some((port) => progress.has(port) || (state.servers.get(port) || {}).state === "testing")) {
    state.lastActive = Date.now();
    document.body.classList.remove("screen-dim"); // a test started: bright at once
  }
}

function dimWhenIdle() {
  document.body.classList.toggle("screen-dim", Date.now() - state.lastActive > DIM_AFTER_MS);
}

async function loadPlaces() {
  placesTimer = null;
  try {
    const data = await getJSON("api/places");
    const t = data.totals || {};
    $("screen-counts").textContent = `${t.tests || 0} test${t.tests === 1 ? "" : "s"} · ${t.places || 0} place${t.places === 1 ? "" : "s"}${t.failures ? ` · ${t.failures} failed` : ""}`;
    const worst = (data.places || []).filter((row) => row.place !== null && row.tests > 0).slice(0, 3);
    $("screen-worst").replaceChildren(...worst.map((row) => {
      const li = el("li", { cls: `grade-row-${row.grade}` });
      li.append(el("strong", { text: row.place }), ` ${bothRates(row.download_median_bps, row.upload_median_bps)}${row.failures ? ` · ${row.failures} failed` : ""}`);
      return li;
    }));
  } catch {
    // the tiles and the connection indicator say what is wrong
  }
}

function placesLater() {
  if (placesTimer === null) placesTimer = setTimeout(loadPlaces, PLACES_RELOAD_MS);
}

function applyServers(servers) {
  state.servers = new Map(servers.map((server) => [server.port, server]));
  for (const server of servers) {
    if (server.state !== "testing") progress.end(server.port);
    else if (server.progress && !progress.has(server.port)) progress.apply({ tests: [server.progress] });
  }
}

function onMessage(message) {
  if (message.type === "progress") progress.apply(message);
  else if (message.type === "snapshot") {
    state.rows = new Map((message.rows || []).map((row) => [row.port, row]));
    if (Array.isArray(message.servers)) applyServers(message.servers);
    state.survey = message.survey || null;
    placesLater();
  } else if (message.type === "results") {
    for (const row of message.rows || []) {
      progress.end(row.port);
      state.rows.set(row.port, row);
    }
    placesLater();
  } else if (message.type === "book") {
    poll();
    return;
  } else if (message.type === "servers" && Array.isArray(message.servers)) applyServers(message.servers);
  else return;
  render();
}

async function poll() {
  try {
    const [latest, servers] = await Promise.all([getJSON("api/latest"), getJSON("api/servers")]);
    applyServers(servers.servers || []);
    state.rows = new Map((latest.rows || []).map((row) => [row.port, row]));
    state.survey = latest.survey || null;
    render();
    placesLater();
  } catch {
    // socket.js shows the station as unreachable and tries again
  }
}

function showPairing() {
  // Only a browser on the station itself gets the code (the server decides, and checks again).
  if (document.querySelector('meta[name="webperf3-pairing"]').content !== "1") return;
  $("screen-pair").hidden = false;
  const reload = () => ($("screen-pair-qr").src = `pair.svg?t=${Date.now()}`);
  reload();
  setInterval(reload, PAIR_QR_RELOAD_MS);
}

const live = new LiveSocket({ onMessage, poll, indicator: $("connection") });
showPairing();
poll();
live.start();
setInterval(() => {
  dimWhenIdle();
  render(); // "5 min ago" moves on
}, 30_000);
