// The printable report: the survey, its places worst first, the per-place
// chart, the failed tests with their reasons and how it was measured. It
// loads once (a document, not a live view); the browser's Save as PDF makes
// the file. <article data-ready> tells a script printing it that it is drawn.
// Paper is read another day: the span carries the date, and each test's
// time does too when the survey spans more than one day. The tests nobody
// named are a line of their own, never ranked among the places.

import { getJSON } from "./api.js";
import { cell, errorCell } from "./cells.js";
import { $, el } from "./dom.js";
import { DASH, direction } from "./format.js";
import { drawPlanPages } from "./reportplans.js";
import {
  drawBars, loadThresholds, placeName, placeRow, placesQuery, surveySpan, timeInSurvey, unplaced, unplacedLine,
} from "./placestable.js";

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function failureRow(failure, time) {
  const tr = el("tr");
  const cells = [
    cell(time(failure.time), { cls: "time" }),
    cell(placeName(failure.place), { cls: failure.place === null ? "name muted" : "name" }),
    cell(String(failure.port), { cls: "port" }),
    cell(failure.client || DASH),
    cell(direction(failure)),
    errorCell(failure),
  ];
  ["Time", "Place", "Port", "Client", "Direction", "Reason"].forEach((label, i) => cells[i].setAttribute("data-label", label));
  tr.append(...cells);
  return tr;
}

async function serverVersions() {
  try {
    const data = await getJSON("api/servers");
    return (data.servers || []).map((s) => s.version).filter(Boolean);
  } catch {
    return []; // the versions of the logs still say most of it
  }
}

async function load() {
  const params = new URLSearchParams(location.search);
  const thresholds = loadThresholds(params);
  const survey = params.get("survey") || "";
  $("report-red").textContent = String(thresholds.red);
  $("report-amber").textContent = String(thresholds.amber);
  try {
    const compare = params.get("compare") || ""; // the floor plans' difference pages (reportplans.js)
    const [data, running] = await Promise.all([getJSON(`api/places?${placesQuery({ survey, compare, thresholds, failures: true })}`), serverVersions()]);
    await render(data, running); // the chart too: printing must not catch it half drawn
    const tolerance = Number(params.get("tolerance")) >= 0 && params.get("tolerance") ? Number(params.get("tolerance")) : undefined;
    await drawPlanPages($("report-plans"), data, { tolerance }); // a page per floor plan, its pictures drawn
  } catch (err) {
    $("message").textContent = `Could not load the report: ${err.message}`;
    $("message").hidden = false;
  }
  $("report").dataset.ready = "1";
}

function render(data, running) {
  const survey = data.survey;
  const totals = data.totals;
  const apart = unplaced(data);
  const time = timeInSurvey(survey);
  $("report-title").textContent = `Survey report: ${survey.name}`;
  $("report-survey").textContent = survey.name;
  $("report-span").textContent = surveySpan(survey);
  $("report-totals").textContent =
    `${plural(totals.tests, "test")} at ${plural(apart.places, "place")}` +
    (apart.tests ? ` and ${apart.tests} with no place` : "") +
    `, ${plural(totals.failures, "failure")}` +
    (totals.interrupted ? `, ${totals.interrupted} interrupted by the station` : "") +
    (totals.excluded ? `, ${totals.excluded} excluded` : "");
  $("report-order").textContent = data.order;
  $("report-order-how").textContent = data.order;
  $("report-rows").replaceChildren(...apart.named.map((row) => placeRow(row, { survey: survey.id, time })));
  const line = unplacedLine(apart, { link: false });
  $("report-unplaced").replaceChildren(...(line ? [line] : []));
  const failures = data.failures || [];
  $("report-failures").hidden = failures.length === 0;
  $("report-no-failures").hidden = failures.length > 0;
  $("report-failure-rows").replaceChildren(...failures.map((failure) => failureRow(failure, time)));
  const more = (data.failures_total || 0) - failures.length;
  $("report-more-failures").hidden = more <= 0;
  $("report-more-failures").textContent = more > 0 ? `…and ${more} more (see the History page).` : "";
  const versions = [...new Set([...data.versions, ...running])];
  $("report-versions").textContent = versions.length
    ? `${versions.join(", ")} (${data.versions.length ? `in the logs: ${data.versions.join(", ")}` : "no test logged"}${running.length ? `; the station runs ${[...new Set(running)].join(", ")}` : ""})`
    : "none recorded";
  document.title = `${survey.name} — report — webperf3`;
  return drawBars($("report-chart"), apart.named).then((drawn) => {
    $("report-charts-section").hidden = !drawn;
  });
}

$("print").addEventListener("click", () => window.print());
$("connection").hidden = true; // a document: no live connection to show
load();
