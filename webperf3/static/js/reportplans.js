// The report's floor plans: a page per plan with places on it, the plan with
// the places' dots and the heat map of the figure the places table ranks by
// (the lower of the two medians), and the key with the thresholds. Drawn
// once, for paper; resolved when every plan's picture is drawn, so a script
// printing the report never catches one half loaded.

import { getJSON } from "./api.js";
import { el } from "./dom.js";
import { drawHeat, FIGURES, legendItems, mapDot, placeGrade, pointsOf } from "./heatmap.js";

// The heat map's grid across a printed plan: smooth on paper, quick to draw.
const PRINT_CELLS = 240;

export async function drawPlanPages(container, data) {
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
    if (!rows.length) continue;
    const section = el("section", { cls: "report-section report-plan" });
    section.dataset.plan = String(plan.id);
    section.append(el("h3", { text: `Floor plan: ${plan.name}` }));
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
    drawHeat(canvas, pointsOf(rows, figure), { aspect, grade: (v) => figure.grade(v, data.thresholds) });
    const dots = el("div", { cls: "map-dots" });
    dots.append(...rows.map((row) => {
      const dot = mapDot(row.x, row.y, placeGrade(row, figure, data.thresholds), row.place, row.failures > 0);
      dot.append(el("span", { cls: "map-dot-label", text: row.place }));
      return dot;
    }));
    stage.append(img, canvas, dots);
    const key = el("p", { cls: "legend map-legend" });
    key.append(el("span", { text: `${figure.label}: ` }), ...legendItems(figure, data.thresholds),
      el("span", { cls: "muted", text: " · no colour: no place measured nearby" }));
    section.append(stage, key);
    pages.push(section);
    await img.decode().catch(() => {});
  }
  container.replaceChildren(...pages);
}
