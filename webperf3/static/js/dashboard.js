// The dashboard: one row per iperf3 port, kept current over the websocket.
//
// When a port's newest test failed, its row describes that failed test (its
// own name, client, time and error) and the rates of the last good test
// appear on a line of their own that names it: a failure never shows under
// another test's name.

import { getJSON, post } from "./api.js";
import { cell, el, qualityCell, rateCell, refreshAgo, timeCell } from "./cells.js";
import { DASH, direction, formatRate, formatTime, protocol } from "./format.js";
import { DevicePanel } from "./device.js";
import { ProgressView } from "./progress.js";
import { LiveSocket } from "./socket.js";

const HIGHLIGHT_MS = 4000; // how long a changed row stays highlighted
const AGO_REFRESH_MS = 15000;
const $ = (id) => document.getElementById(id);

const state = {
  rows: new Map(), // port → PortRow dict
  servers: new Map(), // port → ServerStatus dict
  generation: -1,
  canUndo: false,
  highlightUntil: new Map(), // port → Date.now() deadline
};
const progress = new ProgressView();

// -- the table ---------------------------------------------------------------

const LABELS = [
  "Port", "Status", "Name", "Client", "Time", "Direction",
  "Download (sent by the station)", "Upload (received by the station)", "Protocol", "Retr. / jitter, loss", "Error",
];

function serverStatus(port) {
  const server = state.servers.get(port);
  if (!server) return { text: DASH, kind: "none", title: "no iperf3 server known on this port" };
  const details = [`state: ${server.state}`];
  if (server.restarts) details.push(`restarts: ${server.restarts}`);
  if (server.last_exit !== null && server.last_exit !== undefined) details.push(`last exit: ${server.last_exit}`);
  if (server.version) details.push(`iperf3 ${server.version}`);
  const title = details.join("; ");
  switch (server.state) {
    case "idle":
      return { text: "idle", kind: "idle", title };
    case "testing":
      return { text: "testing", detail: server.client ? `from ${server.client}` : "", kind: "testing", title };
    case "starting":
      return { text: "starting", kind: "starting", title };
    default: // restarting, failed
      return { text: "down", kind: "down", title };
  }
}

function statusCell(port) {
  const status = serverStatus(port);
  const td = el("td");
  const both = el("span"); // one flex item on a phone
  both.append(el("span", { text: status.text, cls: `status status-${status.kind}`, title: status.title }));
  if (status.detail) both.append(" ", el("span", { text: status.detail, cls: "status-detail" })); // "testing from 192.0.2.7"
  td.append(both);
  const moving = progress.node(port);
  if (moving) td.append(moving);
  return td;
}

function failureIsNewest(row) {
  return Boolean(row.failure) && (!row.latest || row.failure.time >= row.latest.time);
}

function nameCell(result, row) {
  const name = result && result.name;
  const text = name || (result ? "(no name)" : row.cleared_at ? "cleared" : "no tests yet");
  return cell(text, { cls: name ? "name" : "name muted" });
}

function buildRows(row) {
  const failed = failureIsNewest(row);
  // The test this row describes: the newest, failed or not.
  const shown = failed ? row.failure : row.latest;
  const tr = el("tr");
  tr.dataset.port = String(row.port);
  if (failed) tr.classList.add("failed");
  const cells = [
    cell(String(row.port), { cls: "port" }),
    statusCell(row.port),
    nameCell(shown, row),
    cell((shown && shown.client) || DASH),
    timeCell(shown),
    cell(direction(shown)),
    rateCell(failed ? null : shown ? shown.download_bps : null, { side: "download", result: shown }),
    rateCell(failed ? null : shown ? shown.upload_bps : null),
    cell(protocol(shown)),
    failed ? cell(DASH, { cls: "quality" }) : qualityCell(shown),
    cell(failed ? row.failure.error || "failed" : "", { cls: "error" }),
  ];
  cells.forEach((td, i) => td.setAttribute("data-label", LABELS[i]));
  tr.append(...cells);
  const trs = [tr];
  if (failed && row.latest) trs.push(previousRow(row));
  const until = state.highlightUntil.get(row.port) || 0;
  if (until > Date.now()) {
    // A re-render must not restart the fade: resume it where it was.
    // (Setting style from script is allowed by the CSP; style="" is not.)
    const elapsed = HIGHLIGHT_MS - (until - Date.now());
    for (const each of trs) {
      each.classList.add("changed");
      for (const td of each.children) td.style.animationDelay = `-${elapsed}ms`;
    }
  }
  return trs;
}

// Under a failed test: the last good test of the port, named, with its rates.
function previousRow(row) {
  const good = row.latest;
  const tr = el("tr", { cls: "previous" });
  tr.dataset.previousOf = String(row.port);
  const td = el("td");
  td.colSpan = 11;
  const name = good.name ? `“${good.name}”` : "(no name)";
  const rates = [];
  if (good.download_bps !== null && good.download_bps !== undefined) rates.push(`download ${formatRate(good.download_bps)}`);
  if (good.upload_bps !== null && good.upload_bps !== undefined) rates.push(`upload ${formatRate(good.upload_bps)}`);
  td.append(
    el("span", { text: "Last good test on this port: ", cls: "muted" }),
    el("span", { text: name, cls: "previous-name" }),
    el("span", { text: `${good.client ? ` from ${good.client}` : ""} at ${formatTime(good.time)}: ${rates.join(", ") || "no rates"}` }),
  );
  tr.append(td);
  return tr;
}

// A port is listed when it has a result or a known server: after a clear
// with no fleet running, the table really is empty.
function visible(row) {
  return Boolean(row.latest || row.failure || state.servers.has(row.port));
}

function render() {
  const ports = new Set([...state.rows.keys(), ...state.servers.keys()]);
  const fragment = document.createDocumentFragment();
  let shown = 0;
  for (const port of [...ports].sort((a, b) => a - b)) {
    const row = state.rows.get(port) || { port, latest: null, failure: null, cleared_at: null, tests: 0 };
    if (!visible(row)) continue;
    fragment.append(...buildRows(row));
    shown += 1;
  }
  $("rows").replaceChildren(fragment);
  $("empty").hidden = shown > 0;
  const cleared = [...state.rows.values()].some((row) => row.cleared_at);
  $("empty-title").textContent = cleared ? "The table is cleared: new tests will appear here." : "No tests yet.";
  $("undo").hidden = !state.canUndo;
}

function rowKey(row) {
  const key = (r) => (r ? `${r.time}:${r.offset}` : "");
  return row ? `${key(row.latest)}|${key(row.failure)}` : "";
}

function highlight(ports) {
  const until = Date.now() + HIGHLIGHT_MS;
  for (const port of ports) state.highlightUntil.set(port, until);
  if (ports.length) setTimeout(unhighlight, HIGHLIGHT_MS + 50);
}

function unhighlight() {
  const now = Date.now();
  for (const [port, until] of state.highlightUntil) {
    if (until <= now) state.highlightUntil.delete(port);
  }
  for (const tr of $("rows").querySelectorAll("tr.changed")) {
    const port = Number(tr.dataset.port || tr.dataset.previousOf);
    if (!state.highlightUntil.has(port)) tr.classList.remove("changed");
  }
}

// -- applying what the server says ------------------------------------------

function replaceRows(rows, { highlightChanges }) {
  const previous = state.rows;
  state.rows = new Map(rows.map((row) => [row.port, row]));
  if (highlightChanges) {
    const changed = rows.filter((row) => previous.has(row.port) && rowKey(previous.get(row.port)) !== rowKey(row) && (row.latest || row.failure));
    highlight(changed.map((row) => row.port));
  }
}

function applySnapshot(message) {
  // The first snapshot after (re)connecting is authoritative, whatever its
  // generation: a restarted webperf3 counts from 0 again.
  replaceRows(message.rows || [], { highlightChanges: state.generation >= 0 });
  if (Array.isArray(message.servers)) applyServers(message.servers, false);
  state.generation = message.generation;
  state.canUndo = Boolean(message.can_undo);
  updated();
  render();
}

function applyResults(message) {
  const rows = message.rows || [];
  for (const row of rows) progress.end(row.port); // the final figures replace the moving ones
  for (const row of rows) state.rows.set(row.port, row);
  highlight(rows.map((row) => row.port));
  if (typeof message.generation === "number") state.generation = message.generation;
  updated();
  render();
}

function applyServers(servers, rerender = true) {
  state.servers = new Map(servers.map((server) => [server.port, server]));
  for (const server of servers) {
    if (server.state !== "testing") progress.end(server.port);
    else if (server.progress && !progress.has(server.port)) progress.apply({ tests: [server.progress] });
  }
  if (rerender) render();
}

function applyLatest(data) {
  // While the websocket is live, a fetch may return after a newer message:
  // keep the newer. While it is down, HTTP is all there is (and a restarted
  // webperf3 counts generations from 0 again).
  if (live.live && typeof data.generation === "number" && data.generation < state.generation) return;
  replaceRows(data.rows || [], { highlightChanges: state.generation >= 0 });
  state.generation = data.generation;
  state.canUndo = Boolean(data.can_undo);
  updated();
  render();
}

function updated() {
  $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

function applyProgress(message) {
  let rerender = false;
  for (const port of progress.apply(message)) {
    if (!progress.update(port, $("rows"))) rerender = true;
  }
  if (rerender) render();
}

function onMessage(message) {
  if (message.type === "progress") applyProgress(message);
  else if (message.type === "snapshot") applySnapshot(message);
  else if (message.type === "results") applyResults(message);
  else if (message.type === "servers" && Array.isArray(message.servers)) applyServers(message.servers);
}

// -- actions -------------------------------------------------------------------

async function updateNow() {
  try {
    const [latest, servers] = await Promise.all([getJSON("api/latest"), getJSON("api/servers")]);
    applyServers(servers.servers || [], false);
    applyLatest(latest);
  } catch (err) {
    showMessage(`Could not update: ${err.message}`);
  }
}

async function clearTable() {
  if (!window.confirm("Clear the table? The tests stay in the logs and the CSV; Undo brings them back.")) return;
  await action("api/clear", "Could not clear the table");
}

async function action(path, failure) {
  const buttons = [$("clear"), $("undo")];
  buttons.forEach((b) => (b.disabled = true));
  try {
    const result = await post(path);
    state.canUndo = Boolean(result.can_undo);
    await updateNow(); // the websocket brings the same; this is for when it is down
  } catch (err) {
    showMessage(`${failure}: ${err.message}`);
  } finally {
    buttons.forEach((b) => (b.disabled = false));
    render();
  }
}

let messageTimer = null;
function showMessage(text) {
  const node = $("message");
  node.textContent = text;
  node.hidden = false;
  clearTimeout(messageTimer);
  messageTimer = setTimeout(() => (node.hidden = true), 10000);
}

// -- start -----------------------------------------------------------------------

const live = new LiveSocket({ onMessage, poll: updateNow, indicator: $("connection") });

$("refresh").addEventListener("click", updateNow);
$("clear").addEventListener("click", clearTable);
$("undo").addEventListener("click", () => action("api/clear/undo", "Could not undo the clear"));
$("host-hint").textContent = location.hostname || "this-host";
setInterval(() => refreshAgo(), AGO_REFRESH_MS);
updateNow();
live.start();
new DevicePanel({ onMessage: showMessage }).start();
