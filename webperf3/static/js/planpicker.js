// "Where are you?" on a floor plan: the phone picks the floor, pinch-zooms
// (the page's own zoom: the plan is an ordinary picture), and taps where it
// stands. A tap near a place already on the plan picks that place; anywhere
// else makes a new place there, named by what is typed in "Where are you?"
// or, when nothing is, a short name of its own ("Spot 3") to change later.
// Either way the device's next tests belong to that place, as a place typed
// in does (POST api/place with the plan, x and y).

import { getJSON, post } from "./api.js";
import { $, el, option } from "./dom.js";

// A tap this close to a dot (CSS pixels, as the plan is shown) picks its place.
export const NEAR_PX = 22;

// The place a tap at (x, y) (fractions) picks: the nearest spot of this plan
// within NEAR_PX as shown `width` x `height`, or null.
export function nearestSpot(spots, plan, x, y, width, height) {
  let best = null;
  let bestD = NEAR_PX;
  for (const spot of spots) {
    if (spot.plan !== plan) continue;
    const d = Math.hypot((spot.x - x) * width, (spot.y - y) * height);
    if (d <= bestD) {
      best = spot;
      bestD = d;
    }
  }
  return best;
}

// A short name no place on the station has yet: "Spot 1", "Spot 2", ...
export function automaticName(spots, taken = []) {
  const used = new Set([...spots.map((s) => s.place.toLowerCase()), ...taken.map((t) => t.toLowerCase())]);
  for (let n = 1; ; n += 1) if (!used.has(`spot ${n}`)) return `Spot ${n}`;
}

export class PlanPicker {
  // device: the page's id; typed(): what "Where are you?" holds; places():
  // this survey's place names; onSaved(answer): the station's answer to the place named.
  constructor({ device, typed, places = () => [], onSaved, onMessage }) {
    this.device = device;
    this.typed = typed;
    this.places = places;
    this.onSaved = onSaved;
    this.onMessage = onMessage;
    this.plans = [];
    this.spots = [];
    this.plan = null;
    this.mine = "";
    this.lastAuto = null; // {name, plan, x, y}: a place named automatically at a tap, until it is renamed
  }

  // Where the place a name typed now should be: the spot of the place just
  // named automatically, when that is this device's place (renaming "Spot 3"
  // keeps where it was tapped); else nothing.
  spotToRename(current) {
    const auto = this.lastAuto;
    this.lastAuto = null;
    return auto && auto.name === current ? { plan: auto.plan, x: auto.x, y: auto.y } : {};
  }

  async start() {
    $("plan-pick-menu").addEventListener("change", () => {
      this.plan = Number($("plan-pick-menu").value);
      this.render();
    });
    $("plan-pick-image").addEventListener("click", (event) => this.tap(event));
    $("plan-picker").addEventListener("toggle", () => {
      if ($("plan-picker").open) this.load();
    });
    await this.load();
  }

  async load() {
    try {
      const data = await getJSON("api/plans");
      this.plans = data.plans;
      this.spots = data.spots;
    } catch {
      return; // the place can still be typed in
    }
    if (!this.plans.some((p) => p.id === this.plan)) {
      const mine = this.spots.find((s) => s.place.toLowerCase() === this.mine.toLowerCase());
      this.plan = mine ? mine.plan : this.plans.length ? this.plans[0].id : null;
    }
    $("plan-picker").hidden = this.plans.length === 0;
    $("plan-pick-menu").replaceChildren(...this.plans.map((p) => option(p.name, String(p.id))));
    this.render();
  }

  // The place this device is in now (its dot is marked).
  showMine(place) {
    this.mine = place || "";
    this.render();
  }

  render() {
    const plan = this.plans.find((p) => p.id === this.plan);
    if (!plan) return;
    $("plan-pick-menu").value = String(plan.id);
    const img = $("plan-pick-image");
    if (img.dataset.src !== plan.image) {
      img.dataset.src = plan.image;
      img.src = plan.image;
      img.alt = `floor plan: ${plan.name}`;
      img.width = plan.width;
      img.height = plan.height;
    }
    const dots = this.spots.filter((s) => s.plan === plan.id).map((spot) => {
      const node = el("span", { cls: "map-dot", title: spot.place });
      node.style.left = `${spot.x * 100}%`;
      node.style.top = `${spot.y * 100}%`;
      node.style.backgroundColor = "#57606a";
      node.dataset.place = spot.place;
      if (spot.place.toLowerCase() === this.mine.toLowerCase()) node.classList.add("mine");
      return node;
    });
    $("plan-pick-dots").replaceChildren(...dots);
  }

  async tap(event) {
    const plan = this.plans.find((p) => p.id === this.plan);
    if (!plan) return;
    const box = $("plan-pick-image").getBoundingClientRect();
    const x = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
    const y = Math.min(1, Math.max(0, (event.clientY - box.top) / box.height));
    const near = nearestSpot(this.spots, plan.id, x, y, box.width, box.height);
    const typed = this.typed();
    const name = near ? near.place : typed || automaticName(this.spots, this.places());
    const body = near ? { name, device: this.device } : { name, device: this.device, plan: plan.id, x, y };
    try {
      const answer = await post("api/place", body);
      this.lastAuto = near || typed ? null : { name: answer.place || name, plan: plan.id, x, y };
      this.onSaved(answer, name);
      $("plan-pick-note").textContent = near
        ? `You are at “${name}”.`
        : `A new place, “${name}”, here on ${plan.name}: type another name above and Save to rename it.`;
      await this.load();
      this.showMine(answer.place || name);
    } catch (err) {
      this.onMessage(`Could not save where you are: ${err.message}`);
    }
  }
}
