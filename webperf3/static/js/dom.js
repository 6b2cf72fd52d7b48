// Finding and making the page's elements: every module does it through these.
// Everything that came over the network is put in the page with textContent
// (or an attribute), never as markup: a client may call itself
// "<img src=x onerror=alert(1)>" and must appear as exactly that text.

export const $ = (id) => document.getElementById(id);

export function el(tag, { text = "", cls = "", title = "" } = {}) {
  const node = document.createElement(tag);
  if (text) node.textContent = text;
  if (cls) node.className = cls;
  if (title) node.title = title;
  return node;
}

// An <option> of a <select> or <datalist>: its text, and its value (the text
// unless given).
export function option(text, value = text) {
  const node = el("option", { text });
  node.value = value;
  return node;
}

// A value the menu does not list (one from the URL, say) gets an option of
// its own, so the menu shows what the page shows instead of a blank.
export function ensureOption(select, value, text = value) {
  if (!value || [...select.options].some((o) => o.value === value)) return;
  select.append(option(text, value));
}
