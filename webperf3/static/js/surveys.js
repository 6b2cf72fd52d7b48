// The surveys on every page. The history's and the places' survey menu;
// and the dashboard's "All surveys": every survey with its time span and
// counts; rename one, make an earlier one current again, or undo a survey's
// start (its tests go back to the survey before; nothing is deleted).

import { getJSON, post, send } from "./api.js";
import { $, el, ensureOption, option } from "./dom.js";
import { surveySpan } from "./placestable.js";

// One option per survey (GET api/surveys), named, the current one marked.
export function surveyOptions(surveys) {
  return surveys.map((s) => option(s.current ? `${s.name} (current)` : s.name, String(s.id)));
}

// A page's survey menu: "current" (the default, value ""), "all surveys"
// ("all"), then each survey. `chosen` stays selected; a survey id the list
// does not have (an old link) shows as "survey N" rather than as a blank.
export function fillSurveyMenu(select, surveys, chosen) {
  select.replaceChildren(option("current", ""), option("all surveys", "all"), ...surveyOptions(surveys));
  ensureOption(select, chosen, `survey ${chosen}`);
  select.value = chosen;
}

export class SurveysPanel {
  constructor({ onMessage }) {
    this.onMessage = onMessage;
  }

  start() {
    // Loaded when opened, and again after any change while open.
    $("surveys").addEventListener("toggle", () => {
      if ($("surveys").open) this.load();
    });
  }

  changed() {
    if ($("surveys").open) this.load();
  }

  async load() {
    try {
      const data = await getJSON("api/surveys");
      this.render(data.surveys || []);
    } catch (err) {
      this.onMessage(`Could not list the surveys: ${err.message}`);
    }
  }

  render(surveys) {
    const first = surveys.length ? surveys[0].id : null;
    $("survey-list").replaceChildren(
      ...surveys.map((s) => {
        const li = el("li", { cls: s.current ? "current" : "" });
        li.dataset.survey = String(s.id);
        const what = `${s.tests} test${s.tests === 1 ? "" : "s"}, ${s.places} place${s.places === 1 ? "" : "s"}${s.excluded ? `, ${s.excluded} excluded` : ""}`;
        li.append(el("strong", { text: s.name, cls: "survey-title" }), el("span", { text: ` — ${surveySpan(s)}; ${what}`, cls: "muted-plain" }));
        if (s.current) li.append(" ", el("span", { text: "current", cls: "measured-by" }));
        const actions = el("span", { cls: "survey-actions" });
        actions.append(this.button("Rename", () => this.rename(s)));
        if (!s.current) actions.append(this.button("Make current", () => this.act(`api/surveys/${s.id}/reopen`, `Could not reopen “${s.name}”`)));
        if (s.id !== first) {
          actions.append(this.button("Undo its start", () => {
            if (window.confirm(`Undo the start of “${s.name}”? Its tests go back to the survey before; nothing is deleted.`)) {
              this.act(`api/surveys/${s.id}/undo`, `Could not undo “${s.name}”`);
            }
          }));
        }
        li.append(actions);
        return li;
      }),
    );
  }

  button(text, onClick) {
    const b = el("button", { text });
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  async rename(survey) {
    const name = window.prompt("New name for this survey:", survey.name);
    if (name === null || !name.trim() || name.trim() === survey.name) return;
    try {
      await send(`api/surveys/${survey.id}`, { method: "PATCH", body: { name: name.trim() } });
    } catch (err) {
      this.onMessage(`Could not rename “${survey.name}”: ${err.message}`);
    }
    this.load();
  }

  async act(path, failure) {
    try {
      await post(path);
    } catch (err) {
      this.onMessage(`${failure}: ${err.message}`);
    }
    this.load();
  }
}
