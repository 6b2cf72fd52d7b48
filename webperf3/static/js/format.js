// Formatting shared by every page: rates, times, directions, quality figures.
// Pure functions of their arguments (and the clock, for "ago").

export const DASH = "—";

export function formatRate(bps) {
  if (bps === null || bps === undefined) return DASH;
  if (bps >= 1e9) return `${(bps / 1e9).toFixed(2)} Gbit/s`;
  const mbps = bps / 1e6;
  return `${mbps.toFixed(mbps >= 100 ? 0 : mbps >= 10 ? 1 : 2)} Mbit/s`;
}

export function exactRate(bps) {
  return `${Math.round(bps).toLocaleString()} bit/s`;
}

// Today's time to the second; another day's as its short date and minute
// ("Dec 5" and "11:49 PM", the year only when not this one): a table of a
// survey over days, or of one just past midnight, keeps its width (the full
// "12/5/2026, 11:49:00 PM" pushed the history's buttons off a 1280 screen).
// The cells' titles keep the whole date.
export function timeParts(seconds) {
  const when = new Date(seconds * 1000);
  const now = new Date();
  if (now.toDateString() === when.toDateString()) return { day: null, clock: when.toLocaleTimeString() };
  const year = now.getFullYear() === when.getFullYear() ? {} : { year: "numeric" };
  return {
    day: when.toLocaleDateString(undefined, { month: "short", day: "numeric", ...year }),
    clock: when.toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit" }),
  };
}

export function formatTime(seconds) {
  const { day, clock } = timeParts(seconds);
  return day ? `${day}, ${clock}` : clock;
}

// Date and time whatever the day: for what is read later (the printed
// report), where "today" means nothing.
export function formatDateTime(seconds) {
  return new Date(seconds * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export function formatDate(seconds) {
  return new Date(seconds * 1000).toLocaleDateString(undefined, { dateStyle: "medium" });
}

export function sameDay(a, b) {
  return new Date(a * 1000).toDateString() === new Date(b * 1000).toDateString();
}

export function ago(seconds) {
  const diff = Date.now() / 1000 - seconds;
  if (diff < 45) return "just now";
  if (diff < 90) return "1 min ago";
  if (diff < 3600) return `${Math.round(diff / 60)} min ago`;
  if (diff < 5400) return "1 h ago";
  if (diff < 86400) return `${Math.round(diff / 3600)} h ago`;
  const days = Math.round(diff / 86400);
  return days === 1 ? "1 day ago" : `${days} days ago`;
}

// Where a test's place came from: set on the station, its own --extra-data,
// or named from the browser of the device that ran it.
export const PLACE_SOURCES = { edited: "set on the station", client: "the client's --extra-data", browser: "named in the browser" };

export const DIRECTIONS = { upload: "upload", download: "download", bidirectional: "bidir" };

export function direction(result) {
  return result && result.direction ? DIRECTIONS[result.direction] || result.direction : DASH;
}

export function protocol(result) {
  if (!result || !result.protocol) return DASH;
  // A browser test measures HTTP goodput through the browser: said wherever it shows.
  if (result.method === "browser") return `browser, HTTP${result.streams > 1 ? ` ×${result.streams}` : ""}`;
  return result.protocol + (result.streams > 1 ? ` ×${result.streams}` : "");
}

// Who measured a result's download: the station's sent rate unless the log
// carried the client's received figure.
export function downloadMeasuredBy(result) {
  if (!result || result.download_bps === null || result.download_bps === undefined) return null;
  return result.download_measured_by === "client" ? "client" : "station";
}

function udpFigures(jitter, loss) {
  const lines = [];
  if (jitter !== null && jitter !== undefined) lines.push(`${jitter.toFixed(3)} ms jitter`);
  if (loss !== null && loss !== undefined) lines.push(`${loss.toFixed(2)} % loss`);
  return lines;
}

// The quality figures of a result, each {text} or {unknown: why}: TCP has
// retransmits; UDP has jitter and loss per measured side. A UDP download's
// jitter and loss were measured by the client alone: unknown here, never
// blank (a blank reads as "no loss").
export function quality(result) {
  if (!result) return [];
  if (result.protocol !== "UDP") {
    return result.retransmits === null || result.retransmits === undefined ? [] : [{ text: `${result.retransmits} retr.` }];
  }
  const parts = [];
  const both = result.direction === "bidirectional";
  if (result.upload_bps !== null && result.upload_bps !== undefined) {
    for (const text of udpFigures(result.jitter_ms, result.loss_percent)) parts.push({ text: both ? `↑ ${text}` : text });
  }
  if (result.download_bps !== null && result.download_bps !== undefined) {
    const figures = udpFigures(result.download_jitter_ms, result.download_loss_percent);
    if (result.download_measured_by === "client" && figures.length) {
      for (const text of figures) parts.push({ text: both ? `↓ ${text} (client)` : `${text} (client)` });
    } else {
      parts.push({ unknown: both ? "↓ jitter, loss unknown" : "jitter, loss unknown" });
    }
  }
  return parts;
}

export const UNKNOWN_UDP_HELP =
  "Only the client measured the jitter and loss of a UDP download: the station's log does not have them. " +
  "Read them from the client's own output (its receiver line).";
