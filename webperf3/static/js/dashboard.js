// The dashboard: one row per iperf3 port, kept current over the websocket.
//
// When a port's newest test failed, its row describes that failed test (its
// own name, client, time and error) and the rates of the last good test
// appear on a line of their own that names it: a failure never shows under
// another test's name.
//
// The device panel (device.js) comes first on a phone; this module fills
// its live box (#device-live): the rate of the test this device runs,
// large, from the same progress push as the table's moving figures.

import { showAlerts } from "./alerts.js";
import { getJSON, post } from "./api.js";
import { cell, errorCell, qualityCell, rateCell, refreshAgo, showMessage, showUpdated, timeCell } from "./cells.js";
import { $, el } from "./dom.js";
import { DASH, PLACE_SOURCES, direction, formatRate, formatTime, protocol } from "./format.js";
import { DevicePanel } from "./device.js";
import { ProgressView, fillLive } from "./progress.js";
import { startPlacesSummary } from "./placesummary.js";
import { LiveSocket } from "./socket.js";
import { SurveysPanel } from "./surveys.js";

const HIGHLIGHT_MS = 4000; // how long a changed row stays highlighted
const AGO_REFRESH_MS = 15000;

const state = {
  rows: new Map(), // port → PortRow dict
  servers: new Map(), // port → ServerStatus dict
  generation: -1,
  canUndo: false,
  survey: null, // the current survey: {id, name, created_at, can_undo}
  highlightUntil: new Map(), // port → Date.now() deadline
};
const progress = new ProgressView();
const baseTitle = document.title;

// -- the table ---------------------------------------------------------------

const LABELS = [
  "Port", "Status", "Place", "Client", "Time", "Direction",
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

function nameCell(result) {
  const place = result && result.place !== undefined ? result.place : result && result.name;
  const td = cell(place || (result ? "(no place)" : "no tests yet"), { cls: place ? "name" : "name muted" });
  if (place && result.place_source) td.title = `place ${PLACE_SOURCES[result.place_source] || result.place_source}`;
  if (place && result.place_source === "browser") td.append(" ", el("span", { text: "browser", cls: "measured-by", title: PLACE_SOURCES.browser }));
  return td;
}

function buildRows(row) {
  const failed = failureIsNewest(row);
  // The test this row describes: the newest, failed or not.
  const shown = failed ? row.failure : row.latest;
  const tr = el("tr");
  tr.dataset.port = String(row.port);
  if (failed) tr.classList.add(row.failure.interrupted ? "interrupted" : "failed");
  const cells = [
    // The websocket port's row holds browser tests ("Test from this browser").
    cell(shown && shown.method === "browser" ? `${row.port} browser` : String(row.port), { cls: "port" }),
    statusCell(row.port),
    nameCell(shown),
    cell((shown && shown.client) || DASH),
    timeCell(shown),
    cell(direction(shown)),
    rateCell(failed ? null : shown ? shown.download_bps : null, { side: "download", result: shown }),
    rateCell(failed ? null : shown ? shown.upload_bps : null),
    cell(protocol(shown)),
    failed ? cell(DASH, { cls: "quality" }) : qualityCell(shown),
    failed ? errorCell(row.failure) : cell("", { cls: "error" }),
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
  const place = good.place !== undefined ? good.place : good.name;
  const name = place ? `“${place}”` : "(no place)";
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

// A port is listed when it has a result or a known server: in a new survey
// with no fleet running, the table really is empty.
function visible(row) {
  return Boolean(row.latest || row.failure || state.servers.has(row.port));
}

function render() {
  const ports = new Set([...state.rows.keys(), ...state.servers.keys()]);
  const fragment = document.createDocumentFragment();
  let shown = 0;
  for (const port of [...ports].sort((a, b) => a - b)) {
    const row = state.rows.get(port) || { port, latest: null, failure: null, tests: 0 };
    if (!visible(row)) continue;
    fragment.append(...buildRows(row));
    shown += 1;
  }
  $("rows").replaceChildren(fragment);
  const tested = [...state.rows.values()].some((row) => row.latest || row.failure);
  $("empty").hidden = tested;
  const surveyName = state.survey ? state.survey.name : "";
  $("survey-name").textContent = surveyName || "—";
  $("empty-title").textContent = surveyName ? `No tests yet in “${surveyName}”.` : "No tests yet.";
  $("undo").hidden = !state.canUndo;
  if (surveyName) document.title = `${surveyName} — ${baseTitle}`;
  showDeviceLive();
}

// -- this device's test, live ----------------------------------------------------

// The device panel's port and address, as device.js shows them: the port
// the station gave this device, and the address it sees this browser at
// (an iperf3 app on the same device comes from the same address).
function deviceShown() {
  const port = Number($("device-port").textContent);
  return { port: Number.isInteger(port) && port > 0 ? port : null, address: $("device-address").textContent.trim() };
}

// A test from this device's address on any port is its own (someone may
// have typed another port); else the port it was given, whoever tests there.
function showDeviceLive() {
  const { port: given, address } = deviceShown();
  const fromHere = (server) => Boolean(address) && server.state === "testing" && server.client === address;
  const running = [...state.servers.values()].find(fromHere);
  const port = running ? running.port : given;
  const server = port === null ? null : state.servers.get(port) || null;
  fillLive($("device-live"), { port, entry: port === null ? null : progress.entry(port), server, mine: Boolean(server && fromHere(server)) });
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
  state.survey = message.survey || null;
  showUpdated();
  render();
}

function applyResults(message) {
  const rows = message.rows || [];
  for (const row of rows) progress.end(row.port); // the final figures replace the moving ones
  device.tests(message.results || []);
  for (const row of rows) state.rows.set(row.port, row);
  highlight(rows.map((row) => row.port));
  if (typeof message.generation === "number") state.generation = message.generation;
  showUpdated();
  render();
}

function applyServers(servers, rerender = true) {
  state.servers = new Map(servers.map((server) => [server.port, server]));
  showAlerts(servers);
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
  state.survey = data.survey || null;
  showUpdated();
  render();
}

function applyProgress(message) {
  let rerender = false;
  for (const port of progress.apply(message)) {
    if (!progress.update(port, $("rows"))) rerender = true;
  }
  if (rerender) render();
  else showDeviceLive();
}

function onMessage(message) {
  if (message.type === "progress") applyProgress(message);
  else if (message.type === "snapshot") applySnapshot(message);
  else if (message.type === "book") {
    device.bookChanged(message);
    if (message.kind !== "claim") surveys.changed();
  }
  else if (message.type === "results") applyResults(message);
  else if (message.type === "leases") device.leasesChanged(message);
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

async function newSurvey() {
  const name = window.prompt("Name the new survey (for example “Floor 2, before the new access point”). Earlier tests stay in their survey, the logs and the exports.", "");
  if (name === null) return; // cancelled
  await action("api/surveys", "Could not start a new survey", name.trim() ? { name: name.trim() } : {});
}

async function action(path, failure, body = undefined) {
  const buttons = [$("new-survey"), $("undo")];
  buttons.forEach((b) => (b.disabled = true));
  try {
    await post(path, body);
    await updateNow(); // the websocket brings the same; this is for when it is down
  } catch (err) {
    showMessage(`${failure}: ${err.message}`);
  } finally {
    buttons.forEach((b) => (b.disabled = false));
    render();
  }
}

// -- start -----------------------------------------------------------------------

const live = new LiveSocket({ onMessage, poll: updateNow, indicator: $("connection"), onOpen: () => device.connected() });
const device = new DevicePanel({ onMessage: showMessage });
const surveys = new SurveysPanel({ onMessage: showMessage });

$("refresh").addEventListener("click", updateNow);
$("new-survey").addEventListener("click", newSurvey);
$("undo").addEventListener("click", () => {
  const name = state.survey ? `“${state.survey.name}”` : "the latest survey";
  if (window.confirm(`Undo the start of ${name}? Its tests go back to the survey before; nothing is deleted.`)) {
    action("api/surveys/undo", "Could not undo the new survey");
  }
});
$("host-hint").textContent = location.hostname || "this-host";
setInterval(() => refreshAgo(), AGO_REFRESH_MS);
updateNow();
live.start();
device.start();
surveys.start();
startPlacesSummary();
// device.js fills in the port and the address; the live box follows them.
showDeviceLive();
new MutationObserver(showDeviceLive).observe($("device-port"), { childList: true, characterData: true, subtree: true });
new MutationObserver(showDeviceLive).observe($("device-address"), { childList: true, characterData: true, subtree: true });
