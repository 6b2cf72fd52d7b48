// The places table, shared by the places page, the report and the
// dashboard's summary: one row per place of /api/places, its colours from
// the server's grades, and the user's thresholds (in the URL and in
// localStorage, so every page and the report use the same ones). The tests
// nobody named are not a place: they are never ranked among the places, but
// counted on a line of their own (`unplaced`, `unplacedLine`).

import { DASH, formatDate, formatDateTime, formatRate, formatTime, sameDay } from "./format.js";
import { cell, explained } from "./cells.js";
import { el } from "./dom.js";

const THRESHOLDS_KEY = "webperf3-thresholds";
export const DEFAULT_THRESHOLDS = { red: 50, amber: 100 };
// The history page's filter for the tests nobody named.
export const NO_PLACE = "(no place)";

function number(text) {
  if (text === null || text === undefined || text === "") return null;
  const value = Number(text);
  return Number.isFinite(value) && value >= 0 ? value : null;
}

// The URL's thresholds, else the ones this browser kept, else the defaults.
export function loadThresholds(params = new URLSearchParams(location.search)) {
  let kept = {};
  try {
    kept = JSON.parse(localStorage.getItem(THRESHOLDS_KEY) || "{}") || {};
  } catch {
    kept = {};
  }
  const red = number(params.get("red")) ?? number(kept.red) ?? DEFAULT_THRESHOLDS.red;
  const amber = number(params.get("amber")) ?? number(kept.amber) ?? Math.max(DEFAULT_THRESHOLDS.amber, red);
  return { red, amber: Math.max(amber, red) };
}

export function saveThresholds(thresholds) {
  try {
    localStorage.setItem(THRESHOLDS_KEY, JSON.stringify(thresholds));
  } catch {
    // private mode: the URL still has them
  }
}

export function placesQuery({ survey = "", compare = "", thresholds = DEFAULT_THRESHOLDS, failures = false } = {}) {
  const params = new URLSearchParams();
  if (survey) params.set("survey", survey);
  if (compare) params.set("compare", compare);
  params.set("red", String(thresholds.red));
  params.set("amber", String(thresholds.amber));
  if (failures) params.set("failures", "1");
  return params.toString();
}

export function placeName(place) {
  return place === null || place === undefined ? NO_PLACE : place;
}

// Its tests on the history page, filtered by place and survey.
export function historyHref(place, survey) {
  const params = new URLSearchParams();
  if (survey !== null && survey !== undefined && survey !== "all") params.set("survey", String(survey));
  // Tests with no place are the history's own filter: a place may be named "(no place)".
  if (place === null || place === undefined) params.set("unplaced", "1");
  else params.set("place", place);
  return `history?${params}`;
}

const GRADE_TITLES = {
  bad: "below the red threshold",
  fair: "below the amber threshold",
  good: "at or above the amber threshold",
  failed: "every test here failed",
  none: "nothing measured",
};

function rateRange(min, max) {
  if (min === null || min === undefined) return DASH;
  return min === max ? formatRate(min) : `${formatRate(min)} – ${formatRate(max)}`;
}

// `ungraded`: the station's reason a figure is shown but not graded (a UDP
// download it only sent: what arrived is unknown), a tap away on a phone.
const BADGE_TITLES = {
  client: "received by the client, as its iperf3 reported",
  mixed: "some figures sent by the station, some received by the client",
};

function medianCell(bps, grade, badge = "", ungraded = null, badgeTitle = null) {
  const td = cell(formatRate(bps), { cls: `num grade grade-${grade}`, title: ungraded || GRADE_TITLES[grade] || "" });
  td.dataset.grade = grade;
  if (badge) td.append(" ", el("span", { text: badge, cls: "measured-by", title: badgeTitle || BADGE_TITLES[badge] || "" }));
  if (ungraded) {
    td.dataset.ungraded = "1";
    td.append(" ", explained("not graded", ungraded, "ungraded"));
  }
  return td;
}

// A place's tests, with those excluded and those the station cut (its stop
// or restart: not failures of the place) said apart.
function testsText(row) {
  const apart = [];
  if (row.interrupted) apart.push(`${row.interrupted} interrupted`);
  if (row.excluded) apart.push(`+${row.excluded} excl.`);
  return String(row.tests) + (apart.length ? ` (${apart.join(", ")})` : "");
}

function udpText(row) {
  const parts = [];
  const figures = (jitter, loss) => [jitter !== null ? `${jitter.toFixed(3)} ms` : null, loss !== null ? `${loss.toFixed(2)} % loss` : null].filter(Boolean).join(", ");
  if (row.upload_jitter_ms !== null || row.upload_loss_percent !== null) parts.push(`↑ ${figures(row.upload_jitter_ms, row.upload_loss_percent)}`);
  if (row.download_jitter_ms !== null || row.download_loss_percent !== null) parts.push(`↓ ${figures(row.download_jitter_ms, row.download_loss_percent)} (client)`);
  else if (row.download_quality_unknown) parts.push("↓ unknown");
  return parts.join("; ") || DASH;
}

export const PLACE_LABELS = [
  "Place", "Tests", "Failed", "Last test", "Download median (sent by the station)", "Download min – max",
  "Upload median (received by the station)", "Upload min – max", "UDP jitter, loss", "Browser tests (browser, HTTP)",
];

// A place's browser tests, apart from its iperf3 figures (never in their
// medians): download received by the browser, upload received by the
// station, the browser's latency idle and under load.
export function browserText(row) {
  if (!row.browser_tests) return DASH;
  const ms = (v) => (v === null || v === undefined ? DASH : `${v.toFixed(v < 10 ? 1 : 0)} ms`);
  const rate = (v) => (v === null || v === undefined ? DASH : formatRate(v));
  return `${row.browser_tests}× ↓ ${rate(row.browser_download_median_bps)} ↑ ${rate(row.browser_upload_median_bps)}; latency ${ms(row.browser_latency_idle_ms)} idle, ${ms(row.browser_latency_download_ms)} ↓ / ${ms(row.browser_latency_upload_ms)} ↑ loaded`;
}

const BROWSER_BADGE = "browser, HTTP";

// True where a row's grade is its browser tests' (no iperf3 figure there).
export const gradedByBrowser = (row) => row.graded_by === "browser";

// One <tr> of the places table; `compact` (the dashboard) drops min/max and
// UDP; `time` formats its last test (the report's carries the date).
export function placeRow(row, { survey = null, compact = false, time = formatTime } = {}) {
  const tr = el("tr", { cls: `place grade-row-${row.grade}` });
  tr.dataset.place = placeName(row.place);
  tr.dataset.grade = row.grade;
  const name = el("td", { cls: row.place === null ? "name muted" : "name" });
  const link = el("a", { text: placeName(row.place), title: "this place's tests" });
  link.href = historyHref(row.place, survey);
  name.append(link);
  const failed = cell(String(row.failures), { cls: row.failures ? "num failures has-failures" : "num failures" });
  const badge = row.download_measured_by === "client" ? "client" : row.download_measured_by === "mixed" ? "mixed" : "";
  // No iperf3 figure here: the medians shown (and the row's grade) are the browser's, said so.
  const byBrowser = row.graded_by === "browser";
  if (byBrowser) tr.dataset.gradedBy = "browser";
  const cells = [
    name,
    cell(testsText(row), { cls: "num tests", title: row.interrupted ? "interrupted: cut by the station's stop or restart, not failures of the place" : "" }),
    failed,
    cell(row.last ? time(row.last) : DASH, { cls: "time" }),
    byBrowser
      ? medianCell(row.browser_download_median_bps, row.browser_download_grade || "none", BROWSER_BADGE, null, "received by the browser: no iperf3 test here, so graded by its browser tests")
      : medianCell(row.download_median_bps, row.download_grade, badge, row.download_ungraded || null),
    cell(rateRange(row.download_min_bps, row.download_max_bps), { cls: "num range" }),
    byBrowser
      ? medianCell(row.browser_upload_median_bps, row.browser_upload_grade || "none", BROWSER_BADGE, null, "received by the station from the browser: no iperf3 test here, so graded by its browser tests")
      : medianCell(row.upload_median_bps, row.upload_grade),
    cell(rateRange(row.upload_min_bps, row.upload_max_bps), { cls: "num range" }),
    cell(udpText(row), { cls: "quality" }),
    cell(browserText(row), { cls: "browser-figures" }),
  ];
  cells.forEach((td, i) => td.setAttribute("data-label", PLACE_LABELS[i]));
  tr.append(...(compact ? [cells[0], cells[1], cells[2], cells[4], cells[6]] : [...cells, placePhoneLine(row)]));
  return tr;
}

// A change shown as 0 % is no change: a −0.06 Mbit/s wobble is not worse.
export function changeKind(change) {
  if (change.bps === null || change.bps === undefined) return null;
  if (change.percent !== null && change.percent !== undefined && Math.round(Math.abs(change.percent)) === 0) return "same";
  return change.bps > 0 ? "better" : change.bps < 0 ? "worse" : "same";
}

function changeText(change) {
  if (change.bps === null) return DASH;
  const kind = changeKind(change);
  const sign = kind === "same" ? "±" : change.bps > 0 ? "+" : "−";
  const percent = change.percent === null ? "" : ` (${kind === "same" ? "" : sign}${Math.abs(change.percent).toFixed(0)} %)`;
  return `${sign}${formatRate(Math.abs(change.bps))}${percent}`;
}

function changeCell(change) {
  const td = cell(changeText(change), { cls: "num change" });
  const kind = changeKind(change);
  if (kind) td.classList.add(kind);
  return td;
}

export const COMPARE_LABELS = ["Place", "Download (A)", "Download (B)", "Change", "Upload (A)", "Upload (B)", "Change"];

// One <tr> of the comparison: survey A against B, the change A − B.
// `names`: the two surveys' names, as the columns are headed.
export function comparedRow(row, { labels = COMPARE_LABELS, survey = null, names = { survey: "A", compare: "B" } } = {}) {
  const tr = el("tr", { cls: "compared" });
  tr.dataset.place = placeName(row.place);
  if (row.only_in) tr.dataset.onlyIn = row.only_in;
  const name = el("td", { cls: row.place === null ? "name muted" : "name" });
  const link = el("a", { text: placeName(row.place) });
  link.href = historyHref(row.place, survey);
  name.append(link);
  if (row.only_in) name.append(" ", el("span", { text: `only in ${row.only_in === "survey" ? names.survey : names.compare}`, cls: "measured-by" }));
  const side = (s, key, gradeKey) => (s ? medianCell(s[key], s[gradeKey] || "none") : cell("not in this survey", { cls: "num muted" }));
  const cells = [
    name,
    side(row.survey, "download_median_bps", "download_grade"),
    side(row.compare, "download_median_bps", "download_grade"),
    changeCell(row.download_change),
    side(row.survey, "upload_median_bps", "upload_grade"),
    side(row.compare, "upload_median_bps", "upload_grade"),
    changeCell(row.upload_change),
  ];
  cells.forEach((td, i) => td.setAttribute("data-label", labels[i]));
  tr.append(...cells, comparedPhoneLine(row, names));
  return tr;
}

// From the survey's first test to its last, with the date: a survey read
// (or printed) another day must say which day.
export function surveySpan(survey) {
  if (!survey || !survey.first_test) return "no tests yet";
  const first = survey.first_test;
  const last = survey.last_test ?? first;
  if (!sameDay(first, last)) return `${formatDateTime(first)} – ${formatDateTime(last)}`;
  const time = (s) => new Date(s * 1000).toLocaleTimeString();
  return first === last ? formatDateTime(first) : `${formatDate(first)}, ${time(first)} – ${time(last)}`;
}

// A test's time in a survey's table: the time alone when the whole survey
// was one day (its span above gives the date), else date and time.
export function timeInSurvey(survey) {
  const oneDay = survey && survey.first_test && sameDay(survey.first_test, survey.last_test ?? survey.first_test);
  return oneDay ? (s) => new Date(s * 1000).toLocaleTimeString() : formatDateTime;
}

// The places of GET api/places apart from the tests nobody named: {named
// (the rows to rank), tests and failures with no place, places (how many
// named places)}. The station's totals say it when they have it
// (totals.unplaced_tests, places counting named ones only); an older one
// sent the no-place row as one of the places. Pure.
export function unplaced(data) {
  const rows = data.places || [];
  const isNone = (r) => r.place === null || r.place === undefined;
  const none = rows.filter(isNone);
  const named = rows.filter((r) => !isNone(r));
  const totals = data.totals || {};
  const told = typeof totals.unplaced_tests === "number";
  const tests = told ? totals.unplaced_tests : none.reduce((n, r) => n + (r.tests || 0), 0);
  const failures = none.reduce((n, r) => n + (r.failures || 0), 0);
  const places = typeof totals.places === "number" ? (told ? totals.places : totals.places - none.filter((r) => r.tests).length) : named.length;
  return { named, tests, failures, places };
}

// "3 tests with no place (1 failed): see them on the History page.", or
// null when every test has a place. `link`: false on paper.
export function unplacedLine({ tests, failures }, { survey = null, link = true } = {}) {
  if (!tests) return null;
  const p = el("p", { cls: "unplaced" });
  p.dataset.tests = String(tests);
  p.append(`${tests} ${tests === 1 ? "test" : "tests"} with no place${failures ? ` (${failures} failed)` : ""}`);
  if (link) {
    const a = el("a", { text: "see them on the History page" });
    a.href = historyHref(null, survey);
    p.append(": ", a, ".");
  } else {
    p.append(": not counted in any place above.");
  }
  return p;
}

// The history helper's per-place bars (charts.js), where that module is
// there; without it the page simply has no chart. No places: no chart.
export async function drawBars(node, places) {
  if (!node) return false;
  if (places.length === 0) {
    node.hidden = true;
    return false;
  }
  try {
    const charts = await import("./charts.js");
    if (typeof charts.placeBars !== "function") return false;
    node.hidden = false;
    charts.placeBars(node, places);
    return true;
  } catch (err) {
    node.hidden = true;
    return false;
  }
}

// -- phones: one compact line per row, opened to its details on tap -------------------
// Under 760px (webperf3.css) the places, the comparison and the history show
// a row as its name and this line only: 20 places fit in two or three
// screens instead of twenty. Hidden elsewhere (and in print).

// The row's figures on one line, failures marked: a cell of its own, last
// in the row, so the name cell's text stays the place's name.
export function phoneLine(parts, { failures = 0, failureText = null } = {}) {
  const td = el("td", { cls: "phone-line" });
  td.setAttribute("aria-hidden", "true"); // the row's own cells say the same to a screen reader
  td.append(parts.filter(Boolean).join(" · "));
  if (failures || failureText) td.append(" ", el("span", { text: failureText || `${failures} failed`, cls: "phone-failures" }));
  return td;
}

// A tap on a row (not on its link or buttons) opens it to its details, and
// closes it again. The pages draw their rows anew on every live update: the
// rows open (by place, or by test id) are opened again in the new ones.
export function openOnTap(tbody) {
  if (tbody.openRows) return;
  const open = (tbody.openRows = new Set());
  const key = (tr) => tr.dataset.id || tr.dataset.place || "";
  tbody.addEventListener("click", (event) => {
    if (event.target.closest("a, button, input, select, label")) return;
    const tr = event.target.closest("tr");
    if (!tr || !tbody.contains(tr)) return;
    if (tr.classList.toggle("open")) open.add(key(tr));
    else open.delete(key(tr));
  });
  new MutationObserver(() => {
    if (!open.size) return;
    for (const tr of tbody.children) if (open.has(key(tr))) tr.classList.add("open");
  }).observe(tbody, { childList: true });
}

const arrowRate = (arrow, bps) => (bps === null || bps === undefined ? null : `${arrow} ${formatRate(bps)}`);

// "↓ 94.1 Mbit/s  ↑ 41.0 Mbit/s": the figures there are, each with its direction.
export function bothRates(download, upload) {
  return [arrowRate("↓", download), arrowRate("↑", upload)].filter(Boolean).join("  ");
}

function placePhoneLine(row) {
  return phoneLine([bothRates(row.download_median_bps, row.upload_median_bps)], { failures: row.failures });
}

function comparedPhoneLine(row, names) {
  // The change as a percentage where there is one: the line stays one line.
  const changed = (change) => {
    const kind = changeKind(change);
    if (kind === null) return "";
    if (change.percent === null || change.percent === undefined) return ` (${changeText(change)})`;
    const sign = kind === "same" ? "±" : change.bps > 0 ? "+" : "−";
    return ` (${sign}${kind === "same" ? 0 : Math.abs(change.percent).toFixed(0)} %)`;
  };
  const side = (arrow, s, key, change) => (s && s[key] !== null && s[key] !== undefined ? `${arrow} ${formatRate(s[key])}${changed(change)}` : null);
  if (!row.survey && row.compare) {
    // Only in the survey compared with: its figures, named by it (the badge says where).
    return phoneLine([`${names.compare}: ${bothRates(row.compare.download_median_bps, row.compare.upload_median_bps)}`]);
  }
  return phoneLine([[side("↓", row.survey, "download_median_bps", row.download_change), side("↑", row.survey, "upload_median_bps", row.upload_change)].filter(Boolean).join("  ")]);
}
