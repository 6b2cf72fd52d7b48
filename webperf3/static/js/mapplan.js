// What changes a floor plan, on the map page (an admin's: the station asks
// for the admin token where one is set): add one, rename it, give it a new
// picture, set its scale by two taps and a distance, remove it. And the map
// as a PNG, drawn from what the page shows.

import { send } from "./api.js";
import { showMessage } from "./cells.js";
import { $, el } from "./dom.js";

// The map as a PNG: the plan at its size (at most 2000 px across), the heat map, the dots.
export function downloadPng(plan) {
  if (!plan) return;
  const scale = Math.min(1, 2000 / plan.width);
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(plan.width * scale);
  canvas.height = Math.round(plan.height * scale);
  const ctx = canvas.getContext("2d");
  ctx.drawImage($("map-image"), 0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage($("map-heat"), 0, 0, canvas.width, canvas.height);
  const r = Math.max(6, canvas.width / 120);
  for (const node of $("map-dots").children) {
    const x = (parseFloat(node.style.left) / 100) * canvas.width;
    const y = (parseFloat(node.style.top) / 100) * canvas.height;
    ctx.beginPath();
    ctx.arc(x, y, r, 0, 2 * Math.PI);
    ctx.fillStyle = node.style.backgroundColor;
    ctx.fill();
    ctx.lineWidth = r / 3;
    ctx.strokeStyle = "#fff";
    ctx.stroke();
    ctx.fillStyle = "#000";
    ctx.font = `${Math.round(r * 1.6)}px sans-serif`;
    ctx.fillText(node.dataset.place, x + r * 1.4, y + r / 2);
  }
  canvas.toBlob((blob) => {
    if (!blob) return;
    const link = el("a");
    link.href = URL.createObjectURL(blob);
    link.download = `${plan.name.replace(/[^\w.-]+/g, "_")}_map.png`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  }, "image/png");
}

export class PlanAdmin {
  // currentPlan(): the plan shown; reload(): ask the station again; choose(id): show that plan next.
  constructor({ currentPlan, reload, choose }) {
    this.currentPlan = currentPlan;
    this.reload = reload;
    this.choose = choose;
    this.scalePoints = null; // the scale's points so far, while they are being tapped
    $("map-upload").addEventListener("submit", (event) => this.upload(event));
    $("map-rename").addEventListener("submit", (event) => {
      event.preventDefault();
      const plan = this.currentPlan();
      this.change(() => send(`api/plans/${plan.id}`, { method: "PATCH", body: { name: $("map-rename-name").value } }), "rename the plan");
    });
    $("map-replace").addEventListener("submit", (event) => {
      event.preventDefault();
      const plan = this.currentPlan();
      const file = $("map-replace-file").files[0];
      if (plan && file) this.change(() => send(`api/plans/${plan.id}/image`, { method: "PUT", body: file }), "replace the picture");
    });
    $("map-scale").addEventListener("click", () => {
      this.scalePoints = [];
      $("map-scale-note").textContent = "tap the first point on the plan";
      $("map-stage").scrollIntoView({ block: "nearest" });
    });
    $("map-remove").addEventListener("click", () => {
      const plan = this.currentPlan();
      if (!plan || !window.confirm(`Remove the plan “${plan.name}”? Its places keep their tests.`)) return;
      this.choose("");
      this.change(() => send(`api/plans/${plan.id}`, { method: "DELETE" }), "remove the plan");
    });
  }

  // The plan's own tools, for the plan shown.
  show() {
    const plan = this.currentPlan();
    $("map-manage").hidden = !plan;
    if (plan && document.activeElement !== $("map-rename-name")) $("map-rename-name").value = plan.name;
  }

  async change(action, what) {
    try {
      await action();
      this.reload();
    } catch (err) {
      showMessage(`Could not ${what}: ${err.message}`);
    }
  }

  async upload(event) {
    event.preventDefault();
    const file = $("map-file").files[0];
    if (!file) return;
    const name = $("map-plan-name").value.trim() || file.name.replace(/\.[^.]*$/, "") || "Floor plan";
    try {
      const made = await send(`api/plans?name=${encodeURIComponent(name)}`, { method: "POST", body: file });
      this.choose(String(made.id));
      $("map-upload").reset();
      this.reload();
    } catch (err) {
      showMessage(`The plan was not kept: ${err.message}`);
    }
  }

  // A tap on the plan while the scale is being set: true when it was taken for that.
  scaleTap(event) {
    if (this.scalePoints === null) return false;
    const box = $("map-image").getBoundingClientRect();
    this.scalePoints.push({ x: (event.clientX - box.left) / box.width, y: (event.clientY - box.top) / box.height });
    if (this.scalePoints.length < 2) {
      $("map-scale-note").textContent = "now tap the second point";
      return true;
    }
    const [a, b] = this.scalePoints;
    this.scalePoints = null;
    const metres = Number(String(window.prompt("The distance between the two points, in metres:") || "").replace(",", "."));
    $("map-scale-note").textContent = "";
    if (!(metres > 0)) return true;
    const plan = this.currentPlan();
    const scale = { ax: a.x, ay: a.y, bx: b.x, by: b.y, metres };
    this.change(() => send(`api/plans/${plan.id}`, { method: "PATCH", body: { scale } }), "set the scale");
    return true;
  }
}
