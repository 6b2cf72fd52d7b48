// The history page: every test of a survey, filtered, sorted and paged by the
// server (GET api/history), the charts of the same tests over time (GET
// api/history/series), kept current over the websocket. The URL holds the
// view (history.replaceState), so it can be bookmarked and shared.

import { getJSON, send } from "./api.js";
import { cell, errorCell, qualityCell, rateCell, refreshAgo, showMessage, showUpdated, timeCell } from "./cells.js";
import { $, el, ensureOption, option } from "./dom.js";
import { DASH, PLACE_SOURCES, direction, formatTime, protocol } from "./format.js";
import { bothRates, openOnTap, phoneLine } from "./placestable.js";
import { TimeChart, sideLabel } from "./charts.js";
import { LiveSocket } from "./socket.js";
import { fillSurveyMenu } from "./surveys.js";

const PAGE = 100;
const LIVE_DEBOUNCE_MS = 250;
const HIGHLIGHT_MS = 4000;
const AGO_REFRESH_MS = 15000;
// What the URL may hold, and each one's default (left out of the URL).
const DEFAULTS = { survey: "", place: "", port: "", client: "", direction: "", method: "", outcome: "", since: "", until: "", sort: "time", order: "desc", offset: "0", by: "port" };
const FILTER_FIELDS = ["place", "port", "client", "direction", "method", "outcome", "since", "until", "sort", "order"];
const LABELS = ["Time", "Place", "Port", "Client", "Direction", "Download (sent by the station)", "Upload (received by the station)", "Protocol", "Retr. / jitter, loss", "Error", "Edit"];

const state = {
  view: readUrl(),
  page: null, // the last GET api/history answer
  survey: null, // the survey shown: {id, name, ...} or null for every survey
  fresh: new Map(), // test id → highlight deadline
  pageRequest: 0,
  seriesRequest: 0,
  chartGeneration: -1, // the store generation the chart's series was read at
};
const charts = {
  download: new TimeChart($("h-chart-download"), { side: "download" }),
  upload: new TimeChart($("h-chart-upload"), { side: "upload" }),
};

// -- the URL ----------------------------------------------------------------------

function readUrl() {
  const params = new URLSearchParams(location.search);
  const view = { ...DEFAULTS };
  for (const key of Object.keys(DEFAULTS)) if (params.has(key)) view[key] = params.get(key);
  return view;
}

function writeUrl() {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(state.view)) if (value !== DEFAULTS[key]) params.set(key, value);
  const search = params.toString();
  history.replaceState(null, "", search ? `?${search}` : location.pathname);
}

// The API's query: the view without the page's own keys; "-" is "no place".
function apiQuery({ paged }) {
  const v = state.view;
  const params = new URLSearchParams();
  if (v.survey) params.set("survey", v.survey);
  for (const key of FILTER_FIELDS) {
    if (!v[key]) continue;
    if (key === "place" && v.place === "-") params.set("unplaced", "1");
    else params.set(key, v[key]);
  }
  if (paged) {
    params.set("offset", v.offset);
    params.set("limit", String(PAGE));
  } else {
    params.set("by", v.by);
  }
  return params.toString();
}

// -- the form <-> the view ------------------------------------------------------------

function localInput(seconds) {
  if (!seconds) return "";
  const d = new Date(Number(seconds) * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function showView() {
  const v = state.view;
  ensureOption($("h-survey"), v.survey, `survey ${v.survey}`);
  $("h-survey").value = v.survey;
  ensureOption($("h-place"), v.place);
  ensureOption($("h-port"), v.port);
  for (const key of ["place", "port", "client", "direction", "method", "outcome", "sort", "order"]) $(`h-${key}`).value = v[key];
  $("h-since").value = localInput(v.since);
  $("h-until").value = localInput(v.until);
  for (const button of document.querySelectorAll(".h-by button")) button.setAttribute("aria-pressed", String(button.dataset.by === v.by));
  for (const th of document.querySelectorAll("#h-table th[data-sort]")) {
    th.removeAttribute("aria-sort");
    if (th.dataset.sort === v.sort) th.setAttribute("aria-sort", v.order === "asc" ? "ascending" : "descending");
  }
}

function readForm() {
  const v = state.view;
  for (const key of ["place", "port", "direction", "method", "outcome", "sort", "order"]) v[key] = $(`h-${key}`).value;
  v.client = $("h-client").value.trim();
  for (const key of ["since", "until"]) {
    const value = $(`h-${key}`).value;
    const t = value ? new Date(value).getTime() / 1000 : NaN;
    v[key] = Number.isFinite(t) ? String(Math.round(t)) : "";
  }
  v.survey = $("h-survey").value;
}

function changed({ chart = true } = {}) {
  state.view.offset = "0";
  writeUrl();
  showView();
  // The rows first: the series (every matching test) would compete with
  // them for the station's CPU, and the rows are what the user waits for.
  const rows = loadPage();
  if (chart) rows.then(loadSeries);
}

// -- loading ------------------------------------------------------------------------------

async function loadPage() {
  const ticket = ++state.pageRequest;
  try {
    const data = await getJSON(`api/history?${apiQuery({ paged: true })}`);
    if (ticket !== state.pageRequest) return; // a newer request is on its way
    state.page = data;
    state.survey = data.survey;
    fillFacets(data.facets || {});
    render();
    showUpdated();
  } catch (err) {
    if (ticket === state.pageRequest) showMessage(`Could not load the tests: ${err.message}`);
  }
}

async function loadSeries() {
  const ticket = ++state.seriesRequest;
  try {
    const data = await getJSON(`api/history/series?${apiQuery({ paged: false })}`);
    if (ticket !== state.seriesRequest) return;
    $("h-download-side").textContent = sideLabel("download", data.download_measured_by);
    charts.download.set(data);
    charts.upload.set(data);
    state.chartGeneration = data.generation;
    document.body.dataset.chartPoints = String(data.t.length);
  } catch (err) {
    if (ticket === state.seriesRequest) showMessage(`Could not load the chart: ${err.message}`);
  }
}

function fillFacets(facets) {
  const keepSelect = (select, values, fixed) => {
    const current = select.value;
    select.replaceChildren(...fixed.map(([value, text]) => option(text, value)), ...values.map((v) => option(String(v))));
    ensureOption(select, current);
    select.value = current;
  };
  keepSelect($("h-place"), facets.places || [], [["", "any"], ["-", "(no place)"]]);
  keepSelect($("h-port"), facets.ports || [], [["", "any"]]);
  $("h-clients").replaceChildren(...(facets.clients || []).map((c) => option(c)));
}

async function loadSurveys() {
  try {
    const data = await getJSON("api/surveys");
    fillSurveyMenu($("h-survey"), data.surveys || [], state.view.survey);
  } catch (err) {
    showMessage(`Could not list the surveys: ${err.message}`);
  }
}

// -- the table -----------------------------------------------------------------------------

function placeCell(test) {
  const td = cell(test.place || "(no place)", { cls: test.place ? "name" : "name muted" });
  if (test.place && test.place_source) td.title = `place ${PLACE_SOURCES[test.place_source] || test.place_source}`;
  if (test.place_source === "edited") td.append(" ", el("span", { text: "edited", cls: "measured-by", title: PLACE_SOURCES.edited }));
  return td;
}

function editCell(test) {
  const td = el("td", { cls: "h-edit" });
  const rename = el("button", { text: "Place…", title: "Set this test's place" });
  rename.type = "button";
  rename.dataset.action = "place";
  rename.addEventListener("click", () => editPlace(test));
  const exclude = el("button", { text: test.excluded ? "Include" : "Exclude", title: test.excluded ? "Count this test again" : "Leave this test out of the survey's figures" });
  exclude.type = "button";
  exclude.dataset.action = "exclude";
  exclude.addEventListener("click", () => edit(test, { excluded: !test.excluded }, test.excluded ? "include" : "exclude"));
  td.append(rename, exclude);
  return td;
}

function buildRow(test) {
  const tr = el("tr");
  tr.dataset.id = test.id;
  const failed = test.error !== null && test.error !== undefined;
  if (failed) tr.classList.add(test.interrupted ? "interrupted" : "failed");
  if (test.excluded) tr.classList.add("excluded");
  const cells = [
    timeCell(test),
    placeCell(test),
    cell(String(test.port), { cls: "port" }),
    cell(test.client || DASH),
    cell(direction(test)),
    rateCell(test.download_bps, { side: "download", result: test }),
    rateCell(test.upload_bps),
    cell(protocol(test)),
    failed ? cell(DASH, { cls: "quality" }) : qualityCell(test),
    failed ? errorCell(test) : cell(test.excluded ? "excluded" : "", { cls: "error h-note" }),
    editCell(test),
  ];
  cells.forEach((td, i) => td.setAttribute("data-label", LABELS[i]));
  // Phones: the place, then this line; a tap opens the rest.
  const line = failed
    ? phoneLine([formatTime(test.time)], { failureText: test.interrupted ? "interrupted" : "failed" })
    : phoneLine([bothRates(test.download_bps, test.upload_bps), formatTime(test.time), test.excluded ? "excluded" : null]);
  tr.append(...cells, line);
  const until = state.fresh.get(test.id);
  if (until && until > Date.now()) tr.classList.add("changed");
  return tr;
}

function render() {
  const data = state.page;
  if (!data) return;
  const rows = data.rows || [];
  openOnTap($("h-rows"));
  $("h-rows").replaceChildren(...rows.map(buildRow));
  $("h-empty").hidden = rows.length > 0;
  const first = rows.length ? data.offset + 1 : 0;
  const last = data.offset + rows.length;
  $("h-range").textContent = rows.length ? `${first.toLocaleString()}–${last.toLocaleString()} of ${data.total.toLocaleString()}` : `0 of ${data.total.toLocaleString()}`;
  $("h-prev").disabled = data.offset === 0;
  $("h-next").disabled = last >= data.total;
  const where = state.survey ? `“${state.survey.name}”` : "all surveys";
  $("h-count").textContent = `${data.total.toLocaleString()} test${data.total === 1 ? "" : "s"} in ${where}`;
  document.title = `History — ${state.survey ? state.survey.name : "all surveys"} — webperf3`;
}

// -- editing ---------------------------------------------------------------------------------

async function editPlace(test) {
  const given = window.prompt("This test's place (empty: the place it had of itself):", test.place || "");
  if (given === null) return;
  await edit(test, { place: given.trim() ? given.trim() : null }, "set the place of");
}

async function edit(test, body, what) {
  try {
    await send(`api/results/${encodeURIComponent(test.id)}`, { method: "PATCH", body });
  } catch (err) {
    showMessage(`Could not ${what} this test: ${err.message}`);
    return;
  }
  // The websocket brings the change to every page; this one needs it now.
  loadPage();
  loadSeries();
}

// -- live -----------------------------------------------------------------------------------

// Whether a new test (annotated, as the "results" message carries it) belongs in this view.
function inView(test) {
  const v = state.view;
  if (v.survey !== "all") {
    const shown = state.survey ? state.survey.id : null;
    if (test.survey !== shown) return false;
  }
  if (v.place === "-" ? test.place : v.place && (test.place || "").toLowerCase() !== v.place.toLowerCase()) return false;
  if (v.port && String(test.port) !== v.port) return false;
  if (v.client && !(test.client || "").includes(v.client)) return false;
  if (v.direction && test.direction !== v.direction) return false;
  if (v.method && (test.method || "iperf3") !== v.method) return false;
  // As the station's filter (board/listing.py): a test it cut is not a failure.
  const failed = test.error !== null && test.error !== undefined;
  if (v.outcome === "ok" && (test.excluded || failed)) return false;
  if (v.outcome === "failed" && (test.excluded || !failed || test.interrupted)) return false;
  if (v.outcome === "interrupted" && (test.excluded || !test.interrupted)) return false;
  if (v.outcome === "excluded" && !test.excluded) return false;
  if (v.since && test.time < Number(v.since)) return false;
  if (v.until && test.time >= Number(v.until)) return false;
  return true;
}

function chartGroup(test, groups) {
  if (state.view.by === "port") return String(test.port);
  const place = test.place || "(no place)";
  const same = groups.find((g) => g.toLowerCase() === place.toLowerCase());
  if (same) return same;
  return groups.includes("other") ? "other" : place;
}

let pageTimer = null;
function reloadSoon({ chart }) {
  clearTimeout(pageTimer);
  pageTimer = setTimeout(() => {
    loadPage();
    if (chart) loadSeries();
  }, LIVE_DEBOUNCE_MS);
}

function applyResults(message) {
  const tests = (message.results || []).filter(inView);
  if (!tests.length) return;
  const until = Date.now() + HIGHLIGHT_MS;
  for (const test of tests) state.fresh.set(test.id, until);
  setTimeout(() => {
    for (const [id, deadline] of state.fresh) if (deadline <= Date.now()) state.fresh.delete(id);
  }, HIGHLIGHT_MS + 50);
  const measured = tests.filter((t) => !t.excluded || state.view.outcome === "excluded").filter((t) => t.download_bps != null || t.upload_bps != null);
  // A chart fetched after these tests landed has them already (the push can
  // arrive after the fetch): the series carries the exact store generation.
  if (measured.length && !(message.generation <= state.chartGeneration)) {
    const groups = charts.download.payload.groups;
    const points = measured.map((t) => ({
      t: t.time,
      group: chartGroup(t, groups),
      download: t.download_bps == null ? null : Math.round(t.download_bps / 1e3) / 1e3,
      upload: t.upload_bps == null ? null : Math.round(t.upload_bps / 1e3) / 1e3,
    }));
    charts.download.append(points);
    charts.upload.append(points);
    document.body.dataset.chartPoints = String(charts.download.payload.t.length);
  }
  reloadSoon({ chart: false });
}

function onMessage(message) {
  if (message.type === "results") applyResults(message);
  else if (message.type === "book") {
    if (message.kind !== "claim" || state.view.place) reloadSoon({ chart: true });
    if (message.kind !== "claim" && message.kind !== "edit") loadSurveys();
  } else if (message.type === "snapshot") reloadSoon({ chart: true }); // (re)connected: catch up
}

// -- start ----------------------------------------------------------------------------------

$("h-filters").addEventListener("change", (event) => {
  readForm();
  // The chart is in time order whatever the table's: a sort change leaves it be.
  changed({ chart: !["sort", "order"].includes(event.target.name) });
});
$("h-filters").addEventListener("submit", (event) => {
  event.preventDefault();
  readForm();
  changed();
});
$("h-survey").addEventListener("change", () => {
  readForm();
  changed();
});
$("h-reset").addEventListener("click", () => {
  state.view = { ...DEFAULTS, survey: state.view.survey, by: state.view.by };
  changed();
});
// A sortable header holds a button (history.tpl): Enter or Space on it, or a
// click anywhere on the header, sorts by that column; again, the other way.
for (const th of document.querySelectorAll("#h-table th[data-sort]")) {
  th.addEventListener("click", () => {
    const key = th.dataset.sort;
    if (state.view.sort === key) state.view.order = state.view.order === "asc" ? "desc" : "asc";
    else {
      state.view.sort = key;
      state.view.order = key === "time" ? "desc" : "asc";
    }
    changed({ chart: false });
  });
}
for (const button of document.querySelectorAll(".h-by button")) {
  button.addEventListener("click", () => {
    state.view.by = button.dataset.by;
    writeUrl();
    showView();
    loadSeries();
  });
}
const turn = (step) => {
  const offset = Math.max(0, Number(state.view.offset) + step * PAGE);
  state.view.offset = String(offset);
  writeUrl();
  loadPage();
  window.scrollTo({ top: $("h-table").offsetTop - 8 });
};
$("h-prev").addEventListener("click", () => turn(-1));
$("h-next").addEventListener("click", () => turn(1));

showView();
loadSurveys();
loadPage().then(loadSeries);
new LiveSocket({ onMessage, poll: () => reloadSoon({ chart: true }), indicator: $("connection") }).start();
setInterval(() => refreshAgo(), AGO_REFRESH_MS);
