// The places page: one row per place of a survey, worst first, coloured
// against the user's thresholds; or two surveys side by side. The choices
// live in the URL (shareable) and the thresholds also in localStorage (the
// report and the dashboard use them). New tests and edits arrive over the
// websocket: the table is fetched again, at most every half second.

import { getJSON } from "./api.js";
import { showMessage, showUpdated } from "./cells.js";
import { $, option } from "./dom.js";
import { LiveSocket } from "./socket.js";
import { fillSurveyMenu, surveyOptions } from "./surveys.js";
import {
  comparedRow, drawBars, gradedByBrowser, loadThresholds, openOnTap, placeRow, placesQuery, saveThresholds, surveySpan, unplaced, unplacedLine,
} from "./placestable.js";

const RELOAD_MS = 500;

const params = new URLSearchParams(location.search);
const state = {
  survey: params.get("survey") || "",
  compare: params.get("compare") || "",
  thresholds: loadThresholds(params),
  loaded: null,
};

function keepInUrl() {
  const query = new URLSearchParams();
  if (state.survey) query.set("survey", state.survey);
  if (state.compare) query.set("compare", state.compare);
  query.set("red", String(state.thresholds.red));
  query.set("amber", String(state.thresholds.amber));
  history.replaceState(null, "", `${location.pathname}?${query}`);
  const forSurvey = new URLSearchParams({
    by: "place",
    ...(state.survey ? { survey: state.survey } : {}),
    ...(state.compare ? { compare: state.compare } : {}),
    red: state.thresholds.red,
    amber: state.thresholds.amber,
  });
  $("places-csv").href = `csv?${forSurvey}`;
  $("places-csv").download = state.compare ? "iperf3_places_compared.csv" : "iperf3_places.csv";
  const report = new URLSearchParams({ ...(state.survey ? { survey: state.survey } : {}), red: state.thresholds.red, amber: state.thresholds.amber });
  $("report-link").href = `report?${report}`;
}

let requested = 0;
async function load() {
  const mine = ++requested;
  try {
    const data = await getJSON(`api/places?${placesQuery(state)}`);
    if (mine !== requested) return; // a newer request is on its way
    state.loaded = data;
    render(data);
    $("message").hidden = true;
  } catch (err) {
    if (mine === requested) showMessage(`Could not load the places: ${err.message}`);
  }
}

let timer = null;
function reloadSoon() {
  if (timer === null) timer = setTimeout(() => {
    timer = null;
    load();
  }, RELOAD_MS);
}

function render(data) {
  const survey = data.survey;
  $("survey-title").textContent = survey.name;
  $("survey-span").textContent = surveySpan(survey);
  $("places-order").textContent = data.order;
  $("legend-red").textContent = String(data.thresholds.red_mbps);
  $("legend-amber").textContent = String(data.thresholds.amber_mbps);
  const comparing = Array.isArray(data.compared);
  const apart = unplaced(data); // the tests nobody named: a line of their own, never a ranked place
  $("places-wrap").hidden = comparing;
  $("compared-wrap").hidden = !comparing;
  if (comparing) {
    const a = survey.name;
    const b = data.compare.survey.name;
    $("survey-title").textContent = `${a} compared with ${b}`;
    for (const [id, text] of [["compare-a-down", a], ["compare-b-down", b], ["compare-a-up", a], ["compare-b-up", b]]) $(id).textContent = text;
    const labels = ["Place", `Download (${a})`, `Download (${b})`, "Change", `Upload (${a})`, `Upload (${b})`, "Change"];
    const isNone = (row) => row.place === null || row.place === undefined;
    const compared = [...data.compared.filter((row) => !isNone(row)), ...data.compared.filter(isNone)]; // no place: last
    openOnTap($("compared-rows"));
    $("compared-rows").replaceChildren(...compared.map((row) => comparedRow(row, { labels, survey: survey.id, names: { survey: a, compare: b } })));
  } else {
    openOnTap($("place-rows"));
    $("place-rows").replaceChildren(...apart.named.map((row) => placeRow(row, { survey: survey.id })));
  }
  const line = comparing ? null : unplacedLine(apart, { survey: survey.id });
  $("places-unplaced").replaceChildren(...(line ? [line] : []));
  $("places-empty").hidden = apart.named.length > 0 || apart.tests > 0 || (comparing && data.compared.length > 0);
  $("places-browser-note").hidden = comparing || !apart.named.some(gradedByBrowser);
  showUpdated();
  document.title = `${survey.name} — places — webperf3`;
  drawBars($("place-chart"), apart.named);
}

async function loadSurveys() {
  try {
    const data = await getJSON("api/surveys");
    const surveys = data.surveys || [];
    fillSurveyMenu($("survey"), surveys, state.survey);
    $("compare").replaceChildren(option("— nothing —", ""), ...surveyOptions(surveys));
    $("compare").value = state.compare;
  } catch (err) {
    showMessage(`Could not list the surveys: ${err.message}`);
  }
}

function readForm() {
  state.survey = $("survey").value;
  state.compare = $("compare").value;
  const red = Number($("red").value);
  const amber = Number($("amber").value);
  if ($("red").value !== "" && $("amber").value !== "" && Number.isFinite(red) && Number.isFinite(amber) && red >= 0 && amber >= red) {
    state.thresholds = { red, amber };
    saveThresholds(state.thresholds);
    $("red").setCustomValidity("");
    $("amber").setCustomValidity("");
  } else {
    $("amber").setCustomValidity("amber must be a number at or above red");
    $("amber").reportValidity();
    return;
  }
  keepInUrl();
  load();
}

function onMessage(message) {
  // A new test, a survey change, an edited place or exclusion: the table may differ.
  if (["snapshot", "results", "book"].includes(message.type)) {
    if (message.type === "book") loadSurveys();
    reloadSoon();
  }
}

$("red").value = String(state.thresholds.red);
$("amber").value = String(state.thresholds.amber);
saveThresholds(state.thresholds); // a shared link's thresholds become this browser's
$("places-form").addEventListener("change", readForm);
$("places-form").addEventListener("submit", (event) => {
  event.preventDefault();
  readForm();
});
keepInUrl();
loadSurveys();
load();
new LiveSocket({ onMessage, poll: load, indicator: $("connection") }).start();
