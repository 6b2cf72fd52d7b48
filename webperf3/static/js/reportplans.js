// The report's floor plans: a page per plan with places on it, the plan with
// the places' dots and the heat map of the figure the places table ranks by
// (the lower of the two medians), and the key with the thresholds. Drawn
// once, for paper; resolved when every plan's picture is drawn, so a script
// printing the report never catches one half loaded.

import { getJSON } from "./api.js";
import { el } from "./dom.js";
import { differences, drawHeat, FIGURES, gradeChange, legendItems, legendSwatch, mapDot, placeGrade, pointsOf } from "./heatmap.js";

// The heat map's grid across a printed plan: smooth on paper, quick to draw.
const PRINT_CELLS = 240;

// `tolerance`: with two surveys compared (data.compared), a change within
// it is "unchanged"; each plan then has a page of the difference too.
export async function drawPlanPages(container, data, { tolerance = 10 } = {}) {
  let plans;
  try {
    plans = (await getJSON("api/plans")).plans;
  } catch {
    return; // the tables still say everything
  }
  const figure = FIGURES.worst;
  const pages = [];
  for (const plan of plans) {
    const rows = data.places.filter((r) => r.place !== null && r.plan === plan.id);
    if (rows.length) {
      const points = pointsOf(rows, figure);
      const dots = rows.map((row) => [row, placeGrade(row, figure, data.thresholds), row.failures > 0]);
      const key = [...legendItems(figure, data.thresholds)];
      pages.push(await page(plan, `Floor plan: ${plan.name}`, points, (v) => figure.grade(v, data.thresholds), dots, `${figure.label}: `, key));
    }
    if (Array.isArray(data.compared)) {
      const diff = differences(data, plan.id, figure);
      if (!diff.length) continue;
      const grade = (change) => gradeChange(change, tolerance);
      const points = diff.filter((d) => d.change !== null).map((d) => ({ x: d.x, y: d.y, v: d.change }));
      const dots = diff.map((d) => [d, d.change === null ? "none" : grade(d.change), false, d.only ? ` (only in ${d.only === "survey" ? data.survey.name : data.compare.survey.name})` : d.change === null ? "" : ` (${d.change >= 0 ? "+" : "−"}${Math.abs(d.change).toFixed(0)} %)`]);
      const key = [legendSwatch("good", `better by over ${tolerance} %`), legendSwatch("none", `within ±${tolerance} %`), legendSwatch("bad", `worse by over ${tolerance} %`)];
      pages.push(await page(plan, `Floor plan: ${plan.name}, ${data.survey.name} against ${data.compare.survey.name}`, points, grade, dots, `${figure.label}, the change: `, key));
    }
  }
  container.replaceChildren(...pages);
}

// One printed page: the plan, its heat map of `points` coloured by `grade`,
// the dots ([place-like {place, x, y}, grade, failed, note]) and the key.
async function page(plan, title, points, grade, dots, keyTitle, key) {
  const section = el("section", { cls: "report-section report-plan" });
  section.dataset.plan = String(plan.id);
  section.append(el("h3", { text: title }));
  const stage = el("div", { cls: "map-stage" });
  stage.style.aspectRatio = `${plan.width} / ${plan.height}`;
  const img = el("img");
  img.alt = `floor plan: ${plan.name}`;
  img.width = plan.width;
  img.height = plan.height;
  img.src = plan.image;
  const canvas = el("canvas", { cls: "map-heat" });
  const aspect = plan.width / plan.height;
  canvas.width = PRINT_CELLS;
  canvas.height = Math.max(8, Math.round(PRINT_CELLS / aspect));
  drawHeat(canvas, points, { aspect, grade });
  const layer = el("div", { cls: "map-dots" });
  layer.append(...dots.map(([where, colour, failed, note = ""]) => {
    const dot = mapDot(where.x, where.y, colour, where.place, failed);
    dot.append(el("span", { cls: "map-dot-label", text: `${where.place}${note}` }));
    return dot;
  }));
  stage.append(img, canvas, layer);
  const legend = el("p", { cls: "legend map-legend" });
  legend.append(el("span", { text: keyTitle }), ...key, el("span", { cls: "muted", text: " · no colour: no place measured nearby" }));
  section.append(stage, legend);
  await img.decode().catch(() => {});
  return section;
}
