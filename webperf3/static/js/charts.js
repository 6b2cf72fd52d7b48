// Charts every page can import, drawn with the vendored uPlot (no build step).
//
//   const chart = new TimeChart(el, { side: "download" });  // or "upload"
//   chart.set(payload);     // GET api/history/series: {t, g, groups, download, upload, ...}
//   chart.append(points);   // live: [{t, group, download, upload}] (Mbit/s)
//   const bars = placeBars(el, places, { unit: "bps" });  // rows of GET api/places
//   bars.set(places);
//
// Each chart follows the page's colours (the CSS variables of webperf3.css,
// so dark mode too, redrawn when prefers-color-scheme changes), resizes with
// its element, and puts its uPlot instance on the element (`el.uplot`) and
// itself (`el.chart`) so tests and other modules can read what is drawn.
// Figures are named for the side that measured them: the caller's heading
// says so (see `sideLabel`). One module of about 400 lines: both charts are
// made on the one Chart base (colours, resizing, drawing for paper).

import uPlot from "../vendor/uplot/uPlot.esm.js";

const PALETTE = ["#2f81f7", "#e16f24", "#1a9f4a", "#c93c8e", "#8250df", "#b08800", "#0f9fb5", "#d1242f", "#6e7781", "#7d4e00", "#3b8eea", "#57ab5a"];
const OTHER_COLOR = "#8d96a0";
const DOWNLOAD_COLOR = "#2f81f7";
const UPLOAD_COLOR = "#1a9f4a";

let cssLoaded = false;
function loadCss() {
  // uPlot's own stylesheet (legend, cursor); a <link> from 'self' is within the CSP.
  if (cssLoaded || document.querySelector("link[data-uplot]")) return;
  cssLoaded = true;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = new URL("../vendor/uplot/uPlot.min.css", import.meta.url).href;
  link.dataset.uplot = "";
  document.head.append(link);
}

// The page's colours now: read on every (re)draw, so a scheme change shows.
export function themeColors() {
  const css = getComputedStyle(document.documentElement);
  const v = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  return { text: v("--text", "#1f2328"), muted: v("--muted", "#656d76"), border: v("--border", "#d0d7de"), surface: v("--surface", "#ffffff") };
}

export function seriesColor(i, label = "") {
  return label === "other" ? OTHER_COLOR : PALETTE[i % PALETTE.length];
}

// Who measured a payload's download figures, for headings and legends.
export function sideLabel(side, measuredBy) {
  if (side === "upload") return "received by the station";
  if (measuredBy === "client") return "received by the client";
  if (measuredBy === "mixed") return "sent by the station, or received by the client where it reported";
  return "sent by the station";
}

export function formatMbps(v) {
  if (v === null || v === undefined) return "—";
  if (v >= 1000) return `${(v / 1000).toFixed(2)} Gbit/s`;
  return `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} Mbit/s`;
}

function axisMbps(u, values) {
  return values.map((v) => (v >= 1000 ? `${+(v / 1000).toFixed(2)}G` : `${+v.toFixed(2)}`));
}

// -- every live chart, redrawn on a scheme change --------------------------------

const live = new Set();
const scheme = window.matchMedia("(prefers-color-scheme: dark)");
scheme.addEventListener("change", () => {
  for (const chart of live) chart.redraw();
});

// Paper is wider than a phone: a chart drawn for a phone's screen, scaled
// up to the page, prints blurred and taller than a page. Before printing,
// each chart is drawn again PRINT_WIDTH wide (its labels laid out for that
// width; the print CSS scales it to the page), and for its element after.
const PRINT_WIDTH = 1000;
let printing = false;
function drawAllFor(paper) {
  printing = paper;
  for (const chart of live) if (chart.plot) chart.redraw();
}
window.addEventListener("beforeprint", () => drawAllFor(true));
window.addEventListener("afterprint", () => drawAllFor(false));

class Chart {
  constructor(el, height) {
    loadCss();
    this.el = el;
    this.height = height;
    this.plot = null;
    this.colors = null;
    el.chart = this;
    this.resizer = new ResizeObserver(() => this.resize());
    this.resizer.observe(el);
    live.add(this);
  }

  // The element's content box: clientWidth counts its padding too, and a
  // chart that wide pushes a phone's page sideways.
  innerWidth() {
    const style = getComputedStyle(this.el);
    return this.el.clientWidth - (parseFloat(style.paddingLeft) || 0) - (parseFloat(style.paddingRight) || 0);
  }

  width() {
    return Math.max(this.innerWidth(), 200);
  }

  resize() {
    if (!this.plot) return;
    const width = printing ? PRINT_WIDTH : this.width();
    if (Math.abs(width - this.plot.width) >= 1) this.plot.setSize({ width, height: this.height });
  }

  // Builds a new uPlot from opts() and data(): on data of a new shape and on
  // a colour-scheme change (uPlot takes its colours when it is made).
  redraw() {
    this.colors = themeColors();
    const data = this.data();
    if (this.plot) this.plot.destroy();
    this.el.replaceChildren();
    const opts = this.opts(this.colors);
    if (printing) opts.width = PRINT_WIDTH;
    this.plot = new uPlot(opts, data, this.el);
    this.el.uplot = this.plot;
    this.el.dataset.scheme = scheme.matches ? "dark" : "light";
  }

  axis(colors, extra = {}) {
    return {
      stroke: colors.muted,
      grid: { stroke: colors.border, width: 1 },
      ticks: { stroke: colors.border, width: 1 },
      font: "11px system-ui, sans-serif",
      ...extra,
    };
  }

  destroy() {
    live.delete(this);
    this.resizer.disconnect();
    if (this.plot) this.plot.destroy();
    this.plot = null;
    delete this.el.uplot;
    delete this.el.chart;
  }
}

// -- download or upload over time, a series per port or per place ------------------

// The payload of GET api/history/series as uPlot's aligned columns: x = t,
// one column per group, null where the test is another group's (or did not
// measure this side). Pure.
export function alignedData(payload, side) {
  const t = payload.t || [];
  const g = payload.g || [];
  const values = payload[side] || [];
  const groups = payload.groups || [];
  const columns = groups.map(() => new Array(t.length).fill(null));
  for (let i = 0; i < t.length; i += 1) {
    const value = values[i];
    if (value !== null && value !== undefined) columns[g[i]][i] = value;
  }
  return [t.slice(), ...columns];
}

export class TimeChart extends Chart {
  constructor(el, { side = "download", height = 240 } = {}) {
    super(el, height);
    this.side = side;
    this.payload = { t: [], g: [], groups: [], download: [], upload: [] };
  }

  set(payload) {
    // Copies: two charts of one payload each append to their own.
    this.payload = {
      ...payload,
      t: [...(payload.t || [])],
      g: [...(payload.g || [])],
      groups: [...(payload.groups || [])],
      download: [...(payload.download || [])],
      upload: [...(payload.upload || [])],
    };
    this.redraw();
  }

  // New tests as they land: [{t, group, download, upload}], rates in Mbit/s.
  append(points) {
    const p = this.payload;
    let fresh = false;
    for (const point of points) {
      let gi = p.groups.indexOf(point.group);
      if (gi < 0) {
        p.groups.push(point.group);
        gi = p.groups.length - 1;
        fresh = true;
      }
      // Keep x ascending (uPlot needs it): a late test goes in its place.
      let at = p.t.length;
      while (at > 0 && p.t[at - 1] > point.t) at -= 1;
      p.t.splice(at, 0, point.t);
      p.g.splice(at, 0, gi);
      p.download.splice(at, 0, point.download ?? null);
      p.upload.splice(at, 0, point.upload ?? null);
    }
    if (fresh || !this.plot) this.redraw();
    else this.plot.setData(this.data());
  }

  // How many points this chart draws (its side's measured values).
  get points() {
    return (this.payload[this.side] || []).filter((v) => v !== null && v !== undefined).length;
  }

  data() {
    return alignedData(this.payload, this.side);
  }

  opts(colors) {
    const groups = this.payload.groups;
    return {
      width: this.width(),
      height: this.height,
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.05 : 1] } },
      series: [
        { value: (u, v) => (v === null || v === undefined ? "—" : new Date(v * 1000).toLocaleString()) },
        ...groups.map((label, i) => {
          const color = seriesColor(i, label);
          return {
            label,
            stroke: color,
            width: 1.5,
            spanGaps: true,
            points: { size: 5, fill: color, stroke: color },
            value: (u, v) => formatMbps(v),
          };
        }),
      ],
      axes: [this.axis(colors), this.axis(colors, { size: 48, values: axisMbps, label: "Mbit/s", labelSize: 14, labelFont: "11px system-ui, sans-serif" })],
      legend: { show: true, live: true },
      cursor: { points: { size: 7 }, drag: { x: true, y: false } },
    };
  }
}

// -- per-place bars: median download and upload, min–max whiskers ----------------------

const BAR_SIZE = 0.38; // of each place's slot, per side
// The bars fit their card, at any width: a chart wider than its card made a
// phone's page scroll sideways. Narrow slots get slanted labels, and below
// LABEL_MIN_PX only every n-th place is named (the table above names them all).
const LABEL_MIN_PX = 16;
const Y_AXIS_PX = 48;

function mbps(value, unit) {
  if (value === null || value === undefined) return null;
  return unit === "Mbps" ? value : value / 1e6;
}

// GET api/places rows (download_median_bps, upload_min_bps, ...) →
// [labels, x, download medians, upload medians, whiskers]. Pure.
export function barsData(places, unit = "bps") {
  const labels = places.map((p) => (p.place === null || p.place === undefined ? "(no place)" : String(p.place)));
  const side = (p, key, stat) => mbps(p[`${key}_${stat}_bps`], unit);
  const sides = new Set(places.filter((p) => p.download_median_bps !== null && p.download_median_bps !== undefined).map((p) => p.download_measured_by || "station"));
  return {
    labels,
    downloadBy: sides.size > 1 ? "mixed" : sides.has("mixed") ? "mixed" : sides.has("client") ? "client" : "station",
    x: places.map((_, i) => i),
    download: places.map((p) => side(p, "download", "median")),
    upload: places.map((p) => side(p, "upload", "median")),
    ranges: places.map((p) => ({
      download: [side(p, "download", "min"), side(p, "download", "max")],
      upload: [side(p, "upload", "min"), side(p, "upload", "max")],
    })),
  };
}

export class PlaceBars extends Chart {
  constructor(el, { unit = "bps", height = 260 } = {}) {
    super(el, height);
    this.unit = unit;
    this.bars = barsData([], unit);
  }

  set(places) {
    this.bars = barsData(places || [], this.unit);
    this.redraw();
  }

  get points() {
    return this.bars.labels.length;
  }

  data() {
    return [this.bars.x, this.bars.download, this.bars.upload];
  }

  opts(colors) {
    const { labels, ranges, downloadBy } = this.bars;
    const n = labels.length;
    const width = printing ? PRINT_WIDTH : this.width();
    const slot = (width - Y_AXIS_PX - 16) / Math.max(n, 1);
    const slanted = slot < 96; // a label of 14 characters fits a slot this wide
    // Every n-th place named when the slots are narrow: worked out at each
    // draw, since a resize changes the slots without building a new chart.
    const every = (u) => {
      const slotPx = u.bbox && u.bbox.width ? u.bbox.width / uPlot.pxRatio / Math.max(n, 1) : LABEL_MIN_PX;
      return Math.max(1, Math.ceil(LABEL_MIN_PX / slotPx));
    };
    const bar = (align, color) => ({
      stroke: color,
      fill: `${color}cc`,
      width: 1,
      paths: uPlot.paths.bars({ size: [BAR_SIZE, Infinity], align }),
      points: { show: false },
      value: (u, v) => formatMbps(v),
    });
    return {
      width,
      height: this.height,
      scales: {
        x: { time: false, range: () => [-0.5, Math.max(n, 1) - 0.5] },
        y: {
          range: (u) => {
            let top = 0;
            for (const r of ranges) top = Math.max(top, r.download[1] ?? 0, r.upload[1] ?? 0);
            for (const v of [...this.bars.download, ...this.bars.upload]) top = Math.max(top, v ?? 0);
            return [0, top > 0 ? top * 1.08 : 1];
          },
        },
      },
      series: [
        { label: "Place" },
        { label: `Download median (${sideLabel("download", downloadBy)})`, ...bar(-1, DOWNLOAD_COLOR) },
        { label: `Upload median (${sideLabel("upload")})`, ...bar(1, UPLOAD_COLOR) },
      ],
      axes: [
        this.axis(colors, {
          splits: () => labels.map((_, i) => i),
          values: (u, splits) => {
            const step = every(u);
            return splits.map((i) => (i % step === 0 ? shorten(labels[i] ?? "") : ""));
          },
          rotate: slanted ? -40 : 0,
          size: slanted ? 70 : 40,
          grid: { show: false },
        }),
        this.axis(colors, { size: 48, values: axisMbps, label: "Mbit/s", labelSize: 14, labelFont: "11px system-ui, sans-serif" }),
      ],
      // A key of the two colours, not values: nothing is under a cursor on
      // paper or on a phone, and a live legend there showed empty cells.
      legend: { show: true, live: false },
      cursor: { points: { show: false }, drag: { x: false, y: false } },
      hooks: { draw: [(u) => drawWhiskers(u, ranges, colors.text)] },
    };
  }
}

function shorten(label) {
  return label.length > 14 ? `${label.slice(0, 13)}…` : label;
}

// The spread of each place's tests: a line from min to max over each bar.
function drawWhiskers(u, ranges, color) {
  if (ranges.length === 0) return;
  const ctx = u.ctx;
  const ratio = uPlot.pxRatio;
  const slot = u.valToPos(1, "x", true) - u.valToPos(0, "x", true);
  const offset = (slot * BAR_SIZE) / 2;
  ctx.save();
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.5 * ratio;
  ctx.beginPath();
  ranges.forEach((r, i) => {
    const centre = u.valToPos(i, "x", true);
    for (const [key, dx] of [["download", -offset], ["upload", offset]]) {
      const [lo, hi] = r[key];
      if (lo === null || hi === null || lo === undefined || hi === undefined) continue;
      const x = centre + dx;
      const y0 = u.valToPos(lo, "y", true);
      const y1 = u.valToPos(hi, "y", true);
      const cap = Math.max(3 * ratio, offset / 4);
      ctx.moveTo(x, y0);
      ctx.lineTo(x, y1);
      ctx.moveTo(x - cap, y0);
      ctx.lineTo(x + cap, y0);
      ctx.moveTo(x - cap, y1);
      ctx.lineTo(x + cap, y1);
    }
  });
  ctx.stroke();
  ctx.restore();
}

// One call for a page: bars of `places` (rows of GET api/places) in `el`.
// `unit`: "bps" (bits/s, as the API's rates) or "Mbps".
export function placeBars(el, places, options = {}) {
  const chart = el.chart instanceof PlaceBars ? el.chart : new PlaceBars(el, options);
  chart.set(places);
  return chart;
}
