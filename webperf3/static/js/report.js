// The printable report: the survey, its places worst first, the per-place
// chart, the failed tests with their reasons and how it was measured. It
// loads once (a document, not a live view); the browser's Save as PDF makes
// the file. <article data-ready> tells a script printing it that it is drawn.

import { getJSON } from "./api.js";
import { cell } from "./cells.js";
import { $, el } from "./dom.js";
import { DASH, direction, formatTime } from "./format.js";
import { drawBars, loadThresholds, placeName, placeRow, placesQuery, surveySpan } from "./placestable.js";

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function failureRow(failure) {
  const tr = el("tr");
  const cells = [
    cell(formatTime(failure.time), { cls: "time" }),
    cell(placeName(failure.place), { cls: failure.place === null ? "name muted" : "name" }),
    cell(String(failure.port), { cls: "port" }),
    cell(failure.client || DASH),
    cell(direction(failure)),
    cell(failure.error || "failed", { cls: "error" }),
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
    const [data, running] = await Promise.all([getJSON(`api/places?${placesQuery({ survey, thresholds, failures: true })}`), serverVersions()]);
    await render(data, running); // the chart too: printing must not catch it half drawn
  } catch (err) {
    $("message").textContent = `Could not load the report: ${err.message}`;
    $("message").hidden = false;
  }
  $("report").dataset.ready = "1";
}

function render(data, running) {
  const survey = data.survey;
  const totals = data.totals;
  $("report-title").textContent = `Survey report: ${survey.name}`;
  $("report-survey").textContent = survey.name;
  $("report-span").textContent = surveySpan(survey);
  $("report-totals").textContent =
    `${plural(totals.tests, "test")} at ${plural(totals.places, "place")}, ${plural(totals.failures, "failure")}` +
    (totals.excluded ? `, ${totals.excluded} excluded` : "");
  $("report-order").textContent = data.order;
  $("report-order-how").textContent = data.order;
  $("report-rows").replaceChildren(...data.places.map((row) => placeRow(row, { survey: survey.id })));
  const failures = data.failures || [];
  $("report-failures").hidden = failures.length === 0;
  $("report-no-failures").hidden = failures.length > 0;
  $("report-failure-rows").replaceChildren(...failures.map(failureRow));
  const more = (data.failures_total || 0) - failures.length;
  $("report-more-failures").hidden = more <= 0;
  $("report-more-failures").textContent = more > 0 ? `…and ${more} more (see the History page).` : "";
  const versions = [...new Set([...data.versions, ...running])];
  $("report-versions").textContent = versions.length
    ? `${versions.join(", ")} (${data.versions.length ? `in the logs: ${data.versions.join(", ")}` : "no test logged"}${running.length ? `; the station runs ${[...new Set(running)].join(", ")}` : ""})`
    : "none recorded";
  document.title = `${survey.name} — report — webperf3`;
  return drawBars($("report-chart"), data.places).then((drawn) => {
    $("report-charts-section").hidden = !drawn;
  });
}

$("print").addEventListener("click", () => window.print());
$("connection").hidden = true; // a document: no live connection to show
load();
