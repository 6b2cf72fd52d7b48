// What the device panel tells a surveyor in plain words: why its place
// changed, and what is missing from its own tests. Pure functions of their
// arguments; the panel (device.js) puts their text in with textContent.

// Why a survey change touched every device's place, from a "book" message.
export function surveyChange(kind, survey) {
  const name = survey && survey.name ? ` “${survey.name}”` : "";
  switch (kind) {
    case "start":
      return `A new survey${name} was started`;
    case "reopen":
      return `The survey${name} was reopened`;
    case "undo":
      return `The survey${name} was undone`;
    case "restore":
      return `The survey${name} was brought back`;
    case "reload":
      return "The survey book was changed on the station";
    default:
      return "The station changed this device's place";
  }
}

// The line saying what happened to the place this page showed; "" when
// nothing was shown and nothing is.
export function placeNote(why, before, now) {
  const reason = why || "The station changed this device's place";
  if (now) return `${reason}: your place is now “${now}”.`;
  return before ? `${reason}: name your place again.` : "";
}

const measured = (value) => value !== null && value !== undefined;

// Warnings about this device's tests in the current survey (oldest first):
// its tests that landed with no place, and each place that has only one
// direction measured from this device.
export function testWarnings(tests) {
  const out = [];
  const kept = tests.filter((t) => !t.excluded && !t.error);
  const unplaced = kept.filter((t) => !t.place);
  if (unplaced.length) {
    const last = unplaced[unplaced.length - 1];
    const which = unplaced.length === 1 ? "Your test" : `${unplaced.length} of your tests landed with no place; the latest`;
    const when = new Date(last.time * 1000).toLocaleTimeString();
    out.push(
      unplaced.length === 1
        ? `${which} at ${when} on port ${last.port} landed with no place: name where you are above before the next test (someone at the station can still set its place).`
        : `${which} at ${when} on port ${last.port}: name where you are above before the next test (someone at the station can still set their places).`,
    );
  }
  const places = new Map(); // place (any case) → what was measured there
  for (const t of kept) {
    if (!t.place) continue;
    const key = t.place.toLocaleLowerCase();
    const seen = places.get(key) || { place: t.place, upload: false, download: false };
    seen.upload ||= measured(t.upload_bps);
    seen.download ||= measured(t.download_bps);
    places.set(key, seen);
  }
  for (const { place, upload, download } of places.values()) {
    if (upload && !download) out.push(`At “${place}” only the upload was measured: run a download test there too (in a terminal, add -R).`);
    if (download && !upload) out.push(`At “${place}” only the download was measured: run an upload test there too (in a terminal, without -R).`);
  }
  return out;
}
