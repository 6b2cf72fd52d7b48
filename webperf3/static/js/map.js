// The map page (/map?survey=&plan=&figure=&compare=): a floor plan with every
// place of a survey on it as a dot, coloured as the places table colours it,
// its name and figures on tap, failures marked; a heat map of the chosen
// figure (heatmap.js); or, compared with another survey, whether each place
// got better or worse. New tests and edits arrive over the websocket and
// recolour the map without a reload. An admin uploads plans here, and drags
// places named elsewhere (a laptop's --extra-data) onto the plan.

import { getJSON, send } from "./api.js";
import { showMessage, showUpdated } from "./cells.js";
import { $, el, option } from "./dom.js";
import { DASH, formatRate } from "./format.js";
import { differences, drawHeat, FIGURES, gradeChange, gridSize, legendItems, legendSwatch as swatch, mapDot as dot, placeGrade, pointsOf } from "./heatmap.js";
import { loadThresholds, placesQuery } from "./placestable.js";
import { downloadPng, PlanAdmin } from "./mapplan.js";
import { LiveSocket } from "./socket.js";
import { fillSurveyMenu, surveyOptions } from "./surveys.js";

// Pushes coalesced until the page's next task: a burst of tests costs one fetch, and a test
// that lands is on the map within a fetch and a draw (benchmarks/map_bench.py).
const RELOAD_MS = 0;
const DEFAULT_TOLERANCE = 10; // percent: a smaller change is "unchanged"

const params = new URLSearchParams(location.search);
const state = {
  survey: params.get("survey") || "",
  plan: params.get("plan") || "",
  figure: FIGURES[params.get("figure")] ? params.get("figure") : "worst",
  compare: params.get("compare") || "",
  tolerance: Number(params.get("tolerance")) > 0 ? Number(params.get("tolerance")) : DEFAULT_TOLERANCE,
  thresholds: loadThresholds(params),
  plans: [],
  data: null,
  shown: null, // the plan whose picture is shown
};

function keepInUrl() {
  const query = new URLSearchParams();
  for (const key of ["survey", "plan", "compare"]) if (state[key]) query.set(key, state[key]);
  if (state.figure !== "worst") query.set("figure", state.figure);
  if (state.compare) query.set("tolerance", String(state.tolerance));
  history.replaceState(null, "", `${location.pathname}?${query}`);
  const report = new URLSearchParams({ red: state.thresholds.red, amber: state.thresholds.amber });
  if (state.survey) report.set("survey", state.survey);
  if (state.compare) {
    report.set("compare", state.compare);
    report.set("tolerance", String(state.tolerance));
  }
  $("map-report").href = `report?${report}`;
}

const currentPlan = () => state.plans.find((p) => String(p.id) === String(state.plan)) || null;

// -- loading ----------------------------------------------------------------------

let requested = 0;
// `plans`: ask for the plans too (not after a test lands: only people change them).
async function load({ plans: withPlans = true } = {}) {
  const mine = ++requested;
  try {
    const [plans, data] = await Promise.all([
      withPlans || !state.plans.length ? getJSON("api/plans") : { plans: state.plans },
      getJSON(`api/places?${placesQuery({ survey: state.survey, compare: state.compare, thresholds: state.thresholds })}`),
    ]);
    if (mine !== requested) return;
    state.plans = plans.plans;
    state.data = data;
    if (!currentPlan() && state.plans.length) state.plan = String(state.plans[0].id);
    render();
    showUpdated();
  } catch (err) {
    if (mine === requested) showMessage(`Could not load the map: ${err.message}`);
  }
}

let timer = null;
let withPlans = false;
function reloadSoon({ plans = true } = {}) {
  withPlans = withPlans || plans;
  if (timer === null) timer = setTimeout(() => {
    timer = null;
    const ask = withPlans;
    withPlans = false;
    load({ plans: ask });
  }, RELOAD_MS);
}

// -- drawing ----------------------------------------------------------------------

function render() {
  const plan = currentPlan();
  const planMenu = $("map-plan-menu");
  planMenu.replaceChildren(...state.plans.map((p) => option(p.name, String(p.id))));
  planMenu.value = state.plan;
  $("map-empty").hidden = state.plans.length > 0;
  $("map-stage").hidden = !plan;
  admin.show();
  keepInUrl();
  if (!plan) return;
  const img = $("map-image");
  if (state.shown !== plan.image) {
    state.shown = plan.image;
    img.src = plan.image;
    img.alt = `floor plan: ${plan.name}`;
    img.width = plan.width;
    img.height = plan.height;
    $("map-stage").style.aspectRatio = `${plan.width} / ${plan.height}`;
  }
  draw();
}

// Everything drawn from the data already loaded: a change of figure or of
// tolerance redraws without asking the station.
function draw() {
  const plan = currentPlan();
  const data = state.data;
  if (!plan || !data) return;
  const comparing = Array.isArray(data.compared);
  const here = (row) => row.plan === plan.id && row.place !== null;
  const rows = data.places.filter(here);
  const figure = FIGURES[state.figure];
  const aspect = plan.width / plan.height;
  const canvas = $("map-heat");
  const { cols, rows: gridRows } = gridSize($("map-stage").clientWidth || 390, aspect);
  canvas.width = cols;
  canvas.height = gridRows;
  let dots;
  if (comparing) {
    const diff = differences(data, plan.id, figure);
    drawHeat(canvas, diff.filter((d) => d.change !== null).map((d) => ({ x: d.x, y: d.y, v: d.change })), { aspect, grade: changeGrade });
    dots = diff.map((d) => compareDot(d, data));
  } else {
    drawHeat(canvas, pointsOf(rows, figure), { aspect, grade: (v) => figure.grade(v, data.thresholds) });
    dots = rows.map((row) => placeDot(row, figure, data));
  }
  $("map-dots").replaceChildren(...dots);
  canvas.dataset.drawn = String(Date.now());
  state.drawnAt = performance.now();
  $("map-stage").dataset.places = String(dots.length);
  legend(data, figure, comparing);
  unplacedList(data, plan);
  document.title = `${plan.name} — map — webperf3`;
}

function figureText(value, figure) {
  if (value === null || value === undefined) return DASH;
  if (figure.text === "rate") return formatRate(value);
  if (figure.text === "percent") return `${value.toFixed(2)} %`;
  if (figure.text === "ms") return `${value.toFixed(value < 10 ? 1 : 0)} ms`;
  return `${(value * 100).toFixed(0)} %`;
}

function placeDot(row, figure, data) {
  const node = dot(row.x, row.y, placeGrade(row, figure, data.thresholds), row.place, row.failures > 0);
  node.addEventListener("pointerdown", (event) => startDrag(event, row.place, currentPlan(), 8));
  node.addEventListener("click", (event) => {
    event.stopPropagation();
    if (dragged) return;
    showInfo(row.place, [
      ["Download median", figureText(row.download_median_bps, FIGURES.download)],
      ["Upload median", figureText(row.upload_median_bps, FIGURES.upload)],
      ["UDP loss", figureText(FIGURES.loss.value(row), FIGURES.loss)],
      ...(row.browser_tests
        ? [
          ["Browser download (browser, HTTP)", figureText(row.browser_download_median_bps, FIGURES.browser_download)],
          ["Browser upload (browser, HTTP)", figureText(row.browser_upload_median_bps, FIGURES.browser_upload)],
          ["Browser latency under load", figureText(FIGURES.browser_latency.value(row), FIGURES.browser_latency)],
        ]
        : []),
      ...(row.graded_by === "browser" ? [["Graded by", "its browser tests (no iperf3 test here)"]] : []),
      ["Tests", `${row.tests}${row.failures ? `, ${row.failures} failed` : ""}`],
      ...(row.x_m !== null && row.x_m !== undefined ? [["Position", `${row.x_m} m across, ${row.y_m} m down`]] : []),
    ], takeOff(row.place));
  });
  return node;
}

// "Take off the plan" (an admin's): the place keeps its tests; drag its name back on from below.
function takeOff(place) {
  const button = el("button", { cls: "map-take-off", text: "Take off the plan" });
  button.type = "button";
  button.addEventListener("click", async (event) => {
    event.stopPropagation();
    try {
      await send("api/places/spot", { method: "DELETE", body: { name: place } });
      $("map-info").hidden = true;
      reloadSoon();
    } catch (err) {
      showMessage(`Could not take “${place}” off the plan: ${err.message}`);
    }
  });
  return button;
}

// -- two surveys compared ----------------------------------------------------------

const changeGrade = (change) => gradeChange(change, state.tolerance);

function compareDot(d, data) {
  const grade = d.change === null ? "none" : changeGrade(d.change);
  const node = dot(d.x, d.y, grade, d.place);
  node.dataset.change = d.change === null ? "" : d.change.toFixed(1);
  if (d.only) node.classList.add("only-one");
  const figure = FIGURES[state.figure];
  node.addEventListener("click", (event) => {
    event.stopPropagation();
    const a = data.survey.name;
    const b = data.compare.survey.name;
    const verdict = d.only === "survey" ? `measured only in ${a}` : d.only === "compare" ? `measured only in ${b}` :
      d.change === null ? "not measured in both" :
      `${grade === "good" ? "better" : grade === "bad" ? "worse" : "unchanged"} (${d.change >= 0 ? "+" : "−"}${Math.abs(d.change).toFixed(0)} %)`;
    showInfo(d.place, [[a, figureText(d.a, figure)], [b, figureText(d.b, figure)], ["Change", verdict]]);
  });
  return node;
}

// -- what goes around the map ------------------------------------------------------

function showInfo(title, lines, ...actions) {
  const box = $("map-info");
  box.replaceChildren(el("strong", { text: title }), ...lines.map(([k, v]) => {
    const line = el("div");
    line.append(el("span", { cls: "muted", text: `${k}: ` }), el("span", { text: v }));
    return line;
  }), ...actions);
  box.hidden = false;
}

function legend(data, figure, comparing) {
  const t = data.thresholds;
  const items = comparing
    ? [swatch("good", `better by over ${state.tolerance} %`), swatch("none", `within ±${state.tolerance} %`), swatch("bad", `worse by over ${state.tolerance} %`)]
    : legendItems(figure, t);
  $("map-legend").replaceChildren(el("span", { text: comparing ? `${figure.label}, ${data.survey.name} against ${data.compare.survey.name}: ` : `${figure.label}: ` }), ...items,
    el("span", { cls: "muted", text: " · no colour: no place measured nearby" }));
}

// Places of the survey on no plan: an admin drags one onto the plan.
function unplacedList(data, plan) {
  const named = data.places.filter((r) => r.place !== null && (r.plan === null || r.plan === undefined));
  const chips = named.map((row) => {
    const chip = el("button", { cls: "map-chip", text: row.place, title: "drag onto the plan to put it there" });
    chip.type = "button";
    chip.dataset.place = row.place;
    chip.addEventListener("pointerdown", (event) => startDrag(event, row.place, plan));
    return chip;
  });
  $("map-unplaced").replaceChildren(...chips);
  $("map-unplaced-wrap").hidden = chips.length === 0;
}

// Drag a place's name (or its dot: `threshold` px before it counts as a
// drag, so a tap still shows its figures) onto the plan: an admin's change.
let dragged = false;
function startDrag(event, place, plan, threshold = 0) {
  if (threshold === 0) event.preventDefault();
  dragged = false;
  const x0 = event.clientX;
  const y0 = event.clientY;
  let ghost = null;
  const move = (e) => {
    if (!ghost) {
      if (Math.hypot(e.clientX - x0, e.clientY - y0) < threshold) return;
      ghost = el("span", { cls: "map-ghost", text: place });
      document.body.append(ghost);
    }
    ghost.style.left = `${e.clientX}px`;
    ghost.style.top = `${e.clientY}px`;
  };
  if (threshold === 0) move(event);
  const up = async (e) => {
    window.removeEventListener("pointermove", move);
    window.removeEventListener("pointerup", up);
    if (!ghost) return; // a tap
    ghost.remove();
    dragged = true; // the click that follows is the drop, not a tap
    setTimeout(() => (dragged = false), 0);
    const box = $("map-image").getBoundingClientRect();
    const x = (e.clientX - box.left) / box.width;
    const y = (e.clientY - box.top) / box.height;
    if (x < 0 || x > 1 || y < 0 || y > 1) return;
    try {
      await send("api/places/spot", { method: "PUT", body: { name: place, plan: plan.id, x, y } });
      reloadSoon();
    } catch (err) {
      showMessage(`Could not put “${place}” on the plan: ${err.message}`);
    }
  };
  window.addEventListener("pointermove", move);
  window.addEventListener("pointerup", up);
}

// What changes a plan (an admin's) and the map as a PNG: mapplan.js.
const admin = new PlanAdmin({
  currentPlan,
  reload: reloadSoon,
  choose(id) {
    state.plan = id;
  },
});

async function loadSurveys() {
  try {
    const surveys = (await getJSON("api/surveys")).surveys || [];
    fillSurveyMenu($("map-survey"), surveys, state.survey);
    $("map-compare").replaceChildren(option("— nothing —", ""), ...surveyOptions(surveys));
    $("map-compare").value = state.compare;
  } catch (err) {
    showMessage(`Could not list the surveys: ${err.message}`);
  }
}

$("map-figure").replaceChildren(...Object.entries(FIGURES).map(([name, f]) => option(f.label, name)));
$("map-figure").value = state.figure;
$("map-tolerance").value = String(state.tolerance);
$("map-form").addEventListener("change", () => {
  const before = [state.survey, state.plan, state.compare].join("|");
  state.survey = $("map-survey").value;
  state.plan = $("map-plan-menu").value;
  state.compare = $("map-compare").value;
  state.figure = $("map-figure").value;
  const tolerance = Number($("map-tolerance").value);
  if (Number.isFinite(tolerance) && tolerance >= 0) state.tolerance = tolerance;
  $("map-tolerance-label").hidden = !state.compare;
  keepInUrl();
  if (before !== [state.survey, state.plan, state.compare].join("|")) load();
  else draw();
});
$("map-form").addEventListener("submit", (event) => event.preventDefault());
$("map-tolerance-label").hidden = !state.compare;
$("map-png").addEventListener("click", () => downloadPng(currentPlan()));
$("map-stage").addEventListener("click", (event) => {
  if (!admin.scaleTap(event)) $("map-info").hidden = true;
});
window.addEventListener("resize", () => draw());
loadSurveys();
load();
new LiveSocket({
  onMessage(message) {
    if (["snapshot", "results", "book"].includes(message.type)) {
      state.pushedAt = performance.now(); // benchmarks/map_bench.py: from here to the map redrawn
      reloadSoon({ plans: message.type !== "results" });
    }
  },
  poll: load,
  indicator: $("connection"),
}).start();

// For the benchmark and the tests: how long drawing the loaded map takes.
window.webperf3Map = { draw, load, state };
