// HTTP to the station: JSON in and out, and the admin token when one is set.

const TOKEN_KEY = "webperf3-admin-token";

export async function getJSON(path) {
  const response = await fetch(path, { cache: "no-store", headers: { Accept: "application/json" } });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `${path}: HTTP ${response.status}`);
  return data;
}

// Asks for the admin token only when the server wants one, then keeps it
// for this tab (sessionStorage) so the user types it once.
export async function send(path, { method = "POST", body = undefined } = {}) {
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = { Accept: "application/json" };
    if (token) headers["X-Admin-Token"] = token;
    // A file (a floor plan's picture) goes as it is, with its own type.
    const raw = typeof Blob !== "undefined" && body instanceof Blob;
    if (body !== undefined) headers["Content-Type"] = raw ? body.type || "application/octet-stream" : "application/json";
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) init.body = raw ? body : JSON.stringify(body);
    const response = await fetch(path, init);
    const data = await response.json().catch(() => ({}));
    const tokenProblem = response.status === 401 || (response.status === 403 && token);
    if (!tokenProblem) {
      if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
      return data;
    }
    sessionStorage.removeItem(TOKEN_KEY);
    const given = window.prompt(token ? "Wrong admin token. Admin token:" : "Admin token:");
    if (!given) throw new Error("an admin token is needed");
    sessionStorage.setItem(TOKEN_KEY, given);
  }
  throw new Error("the admin token was refused");
}

export const post = (path, body) => send(path, { method: "POST", body });
