// The dashboard's top: the current survey's worst few places, a link to
// the places page. It follows the dashboard's table: whenever that is drawn
// again (a new test, a survey change, a poll), the summary is fetched
// again, at most once every RELOAD_MS. The tests nobody named are a line
// under them, never one of the worst places.

import { getJSON } from "./api.js";
import { $ } from "./dom.js";
import { gradedByBrowser, loadThresholds, placeRow, placesQuery, unplaced, unplacedLine } from "./placestable.js";

const SHOWN = 3;
const RELOAD_MS = 1500;

async function load() {
  const thresholds = loadThresholds(new URLSearchParams()); // the ones kept from the places page
  try {
    const data = await getJSON(`api/places?${placesQuery({ thresholds })}`);
    const apart = unplaced(data);
    const worst = apart.named.filter((row) => row.tests > 0).slice(0, SHOWN);
    $("places-summary").hidden = worst.length === 0 && !apart.tests;
    $("places-summary-table").closest(".table-wrap").hidden = worst.length === 0;
    $("places-summary-rows").replaceChildren(...worst.map((row) => placeRow(row, { survey: data.survey.id, compact: true })));
    // Said under the table, not only in a badge: these rows' figures are another method's.
    $("places-summary-note").hidden = !worst.some(gradedByBrowser);
    const line = unplacedLine(apart, { survey: data.survey.id });
    $("places-summary-unplaced").replaceChildren(...(line ? [line] : []));
    const more = apart.places - worst.length;
    $("places-summary-more").textContent = more > 0 ? `All ${apart.places} places` : "Places";
  } catch {
    // the dashboard's own table says what is wrong with the station
  }
}

export function startPlacesSummary() {
  let timer = null;
  const soon = () => {
    if (timer === null) timer = setTimeout(() => {
      timer = null;
      load();
    }, RELOAD_MS);
  };
  new MutationObserver(soon).observe($("rows"), { childList: true });
  load();
}
