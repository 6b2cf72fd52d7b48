// The heat map of a floor plan: the figures a place can be coloured by, their
// fixed colour scale (from the places table's thresholds, as /api/places
// sends them, so two maps compare by eye), and the interpolation between the
// measured places. Pure but for the canvas it draws on.
//
// Inverse-distance weighting (power 2) within a radius, as wifi-heatmapper's
// shader does, and not the radial basis functions python-wifi-survey-heatmap
// fits (scipy's Rbf, with the plan's corners pinned to the lowest value):
// IDW is a weighted mean of the places measured nearby, so the map never
// shows a figure better or worse than a test saw, and where no place is
// within the radius it shows nothing, instead of coverage nobody measured.
// An RBF overshoots between close points of different figures and paints
// the whole floor.

import { el } from "./dom.js";

export const HEAT_COLOURS = {
  bad: [215, 48, 39],
  fair: [244, 176, 0],
  good: [26, 152, 80],
  failed: [110, 20, 20],
  none: [140, 140, 140],
};
// The most a heat colour covers the plan: the plan stays readable under it.
export const HEAT_ALPHA = 0.6;
// How far a measured place colours the plan, as a fraction of the plan's longer side;
// the colour fades out over the last FADE of it.
export const RADIUS = 0.12;
const FADE = 0.4;

// The places table's rule (board/tally.py Thresholds.grade), with the
// thresholds the station sent: below red is bad, below amber fair, else good.
export function gradeRate(bps, thresholds) {
  if (bps === null || bps === undefined) return "none";
  const mbps = bps / 1e6;
  if (mbps < thresholds.red_mbps) return "bad";
  if (mbps < thresholds.amber_mbps) return "fair";
  return "good";
}

// UDP loss and the share of failed tests have no thresholds of the user's: fixed ones, said in the legend.
export const LOSS_LIMITS = { fair: 1, bad: 5 }; // percent
export const FAILURE_LIMITS = { fair: 0.01, bad: 0.5 }; // share of the place's tests
// A browser's round trip under load (ms): a call stutters past ~100 ms, and
// a queue kept full ("bufferbloat") shows as hundreds.
export const LATENCY_LIMITS = { fair: 50, bad: 150 };

function gradeLower(value, limits) {
  if (value === null || value === undefined) return "none";
  if (value >= limits.bad) return "bad";
  if (value >= limits.fair) return "fair";
  return "good";
}

// The worse of a place's browser latencies under load (during the download
// and during the upload): medians of its browser tests, the browser's own.
function loadedLatency(row) {
  const found = [row.browser_latency_download_ms, row.browser_latency_upload_ms].filter((v) => v !== null && v !== undefined);
  return found.length ? Math.max(...found) : null;
}

function udpLoss(row) {
  const found = [row.upload_loss_percent, row.download_loss_percent].filter((v) => v !== null && v !== undefined);
  return found.length ? Math.max(...found) : null;
}

// Each figure: its label, a place's value (null: not measured there), the
// place's grade (the server's where it grades it), and the grade of any value.
export const FIGURES = {
  worst: {
    label: "Lower of the two medians (as the places table)",
    value: (row) => row.worst_bps,
    placeGrade: (row) => row.grade,
    grade: gradeRate,
    text: "rate",
  },
  download: {
    label: "Download median (sent by the station)",
    value: (row) => (row.download_grade === "none" ? null : row.download_median_bps),
    placeGrade: (row) => row.download_grade,
    grade: gradeRate,
    text: "rate",
  },
  upload: {
    label: "Upload median (received by the station)",
    value: (row) => row.upload_median_bps,
    placeGrade: (row) => row.upload_grade,
    grade: gradeRate,
    text: "rate",
  },
  // A survey done only from browsers still makes a map: the browser test's
  // own figures, named as the browser's, never mixed with iperf3's.
  browser_download: {
    label: "Browser download median (received by the browser; browser, HTTP)",
    value: (row) => row.browser_download_median_bps ?? null,
    placeGrade: (row, thresholds) => gradeRate(row.browser_download_median_bps, thresholds),
    grade: gradeRate,
    text: "rate",
  },
  browser_upload: {
    label: "Browser upload median (received by the station; browser, HTTP)",
    value: (row) => row.browser_upload_median_bps ?? null,
    placeGrade: (row, thresholds) => gradeRate(row.browser_upload_median_bps, thresholds),
    grade: gradeRate,
    text: "rate",
  },
  browser_latency: {
    label: "Browser latency under load (the worse of during download and upload; browser, HTTP)",
    value: loadedLatency,
    placeGrade: (row) => gradeLower(loadedLatency(row), LATENCY_LIMITS),
    grade: (v) => gradeLower(v, LATENCY_LIMITS),
    text: "ms",
    limits: LATENCY_LIMITS,
  },
  loss: {
    label: "UDP loss",
    value: udpLoss,
    placeGrade: (row) => gradeLower(udpLoss(row), LOSS_LIMITS),
    grade: (v) => gradeLower(v, LOSS_LIMITS),
    text: "percent",
  },
  failures: {
    label: "Failed tests",
    value: (row) => (row.tests ? row.failures / row.tests : null),
    placeGrade: (row) => gradeLower(row.tests ? row.failures / row.tests : null, FAILURE_LIMITS),
    grade: (v) => gradeLower(v, FAILURE_LIMITS),
    text: "share",
  },
};

// The measured points of a figure: [{x, y, v}] (x, y fractions of the plan).
export function pointsOf(rows, figure) {
  const out = [];
  for (const row of rows) {
    if (row.x === null || row.x === undefined) continue;
    const v = figure.value(row);
    if (v === null || v === undefined || !Number.isFinite(v)) continue;
    out.push({ x: row.x, y: row.y, v });
  }
  return out;
}

// Draw the heat map on `canvas` (its width and height are the grid: one
// cell a pixel, the page stretches it over the plan). `aspect` is the plan's
// width / height, so distances are the same across and down.
export function drawHeat(canvas, points, { aspect, grade, radius = RADIUS }) {
  const ctx = canvas.getContext("2d");
  const cols = canvas.width;
  const rows = canvas.height;
  const image = ctx.createImageData(cols, rows);
  const data = image.data;
  // Distances in units of the plan's longer side.
  const sx = aspect >= 1 ? 1 : aspect;
  const sy = aspect >= 1 ? 1 / aspect : 1;
  const px = new Float64Array(points.length);
  const py = new Float64Array(points.length);
  const pv = new Float64Array(points.length);
  points.forEach((p, i) => {
    px[i] = p.x * sx;
    py[i] = p.y * sy;
    pv[i] = p.v;
  });
  const r2 = radius * radius;
  const fadeFrom = radius * (1 - FADE);
  // Points sorted across, so each column looks only at those within the radius.
  const order = [...points.keys()].sort((a, b) => px[a] - px[b]);
  const sortedX = order.map((i) => px[i]);
  for (let c = 0; c < cols; c += 1) {
    const x = ((c + 0.5) / cols) * sx;
    let lo = lowerBound(sortedX, x - radius);
    const hi = lowerBound(sortedX, x + radius);
    const near = order.slice(lo, hi);
    if (!near.length) continue;
    for (let r = 0; r < rows; r += 1) {
      const y = ((r + 0.5) / rows) * sy;
      let wsum = 0;
      let vsum = 0;
      let nearest = Infinity;
      let exact = null;
      for (const i of near) {
        const dx = px[i] - x;
        const dy = py[i] - y;
        const d2 = dx * dx + dy * dy;
        if (d2 > r2) continue;
        if (d2 < 1e-12) {
          exact = pv[i];
          nearest = 0;
          break;
        }
        const w = 1 / d2;
        wsum += w;
        vsum += w * pv[i];
        if (d2 < nearest) nearest = d2;
      }
      if (exact === null && wsum === 0) continue;
      const value = exact !== null ? exact : vsum / wsum;
      const d = Math.sqrt(nearest);
      const fade = d <= fadeFrom ? 1 : Math.max(0, (radius - d) / (radius - fadeFrom));
      const [red, green, blue] = HEAT_COLOURS[grade(value)] || HEAT_COLOURS.none;
      const at = (r * cols + c) * 4;
      data[at] = red;
      data[at + 1] = green;
      data[at + 2] = blue;
      data[at + 3] = Math.round(255 * HEAT_ALPHA * fade);
    }
    lo = hi;
  }
  ctx.putImageData(image, 0, 0);
}

function lowerBound(sorted, value) {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// The grid for a plan shown `shownWidth` CSS pixels wide: a cell every few
// pixels (the page smooths the rest), never more than MAX_CELLS across.
const CELL_PX = 3;
const MAX_CELLS = 400;
export function gridSize(shownWidth, aspect) {
  const cols = Math.max(16, Math.min(MAX_CELLS, Math.round(shownWidth / CELL_PX)));
  return { cols, rows: Math.max(8, Math.round(cols / aspect)) };
}

// A place's dot on a plan (a button: tapped, it tells the place's figures);
// `failed` marks a place with failed tests.
export function mapDot(x, y, grade, label, failed = false) {
  const node = el("button", { cls: "map-dot", title: label });
  node.type = "button";
  node.style.left = `${x * 100}%`;
  node.style.top = `${y * 100}%`;
  node.style.backgroundColor = `rgb(${(HEAT_COLOURS[grade] || HEAT_COLOURS.none).join(",")})`;
  node.dataset.grade = grade;
  node.dataset.place = label;
  node.setAttribute("aria-label", label);
  if (failed) {
    node.classList.add("has-failures");
    node.textContent = "!";
  }
  return node;
}

// A place's colour for a figure: "failed" where every test failed, as the places table says.
export function placeGrade(row, figure, thresholds) {
  return row.grade === "failed" ? "failed" : figure.placeGrade(row, thresholds);
}

export function legendSwatch(grade, text) {
  const item = el("span", { cls: "map-legend-item" });
  const mark = el("span", { cls: "map-swatch" });
  mark.style.backgroundColor = `rgb(${HEAT_COLOURS[grade].join(",")})`;
  item.append(mark, el("span", { text }));
  return item;
}

// The key of a figure's colours: the thresholds (rates) or the fixed limits.
export function legendItems(figure, thresholds) {
  if (figure.text === "rate") {
    return [
      legendSwatch("bad", `below ${thresholds.red_mbps} Mbit/s`), legendSwatch("fair", `below ${thresholds.amber_mbps} Mbit/s`),
      legendSwatch("good", "at or above"), legendSwatch("failed", "every test failed"),
    ];
  }
  const limits = figure.limits || (figure === FIGURES.loss ? LOSS_LIMITS : FAILURE_LIMITS);
  const show = (v) => (figure.text === "ms" ? `${v} ms` : figure === FIGURES.loss ? `${v} %` : `${v * 100} %`);
  return [legendSwatch("good", `below ${show(limits.fair)}`), legendSwatch("fair", `below ${show(limits.bad)}`), legendSwatch("bad", `${show(limits.bad)} or more`)];
}

// -- two surveys compared ----------------------------------------------------------

const placeKey = (place) => (place === null || place === undefined ? null : place.toLowerCase());

// Each place of either survey on this plan: its change in % of the figure
// (positive: better), or why there is none.
export function differences(data, plan, figure) {
  const before = new Map(data.compare.places.filter((r) => r.place !== null).map((r) => [placeKey(r.place), r]));
  const out = [];
  const seen = new Set();
  for (const row of data.places) {
    if (row.place === null || row.plan !== plan) continue;
    seen.add(placeKey(row.place));
    out.push(difference(row, before.get(placeKey(row.place)) || null, figure));
  }
  for (const [k, old] of before) {
    if (!seen.has(k) && old.plan === plan) out.push(difference(null, old, figure));
  }
  return out;
}

function difference(now, old, figure) {
  const where = now || old;
  const a = now ? figure.value(now) : null;
  const b = old ? figure.value(old) : null;
  let change = null;
  if (a !== null && b !== null) {
    const lowerIsBetter = figure.text !== "rate";
    if (b === 0) change = a === 0 ? 0 : lowerIsBetter ? -100 : 100;
    else change = ((lowerIsBetter ? b - a : a - b) / Math.abs(b)) * 100;
  }
  return { place: where.place, x: where.x, y: where.y, a, b, change, only: now && !old ? "survey" : !now && old ? "compare" : null };
}

// Better (good), worse (bad) or unchanged (none) by more than `tolerance` %.
export function gradeChange(change, tolerance) {
  if (change > tolerance) return "good";
  if (change < -tolerance) return "bad";
  return "none";
}

