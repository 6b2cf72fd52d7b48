/* webperf3 dashboard: one row per iperf3 port, kept current over a websocket.
 *
 * Everything that came over the network is put in the page with textContent
 * (or an attribute), never innerHTML: a client may call itself
 * "<img src=x onerror=alert(1)>" and must appear as exactly that text.
 *
 * The websocket's port and path come from <meta> tags the server renders,
 * never from a constant here. The server sends a "snapshot" on every connect,
 * so reconnecting is also resynchronising.
 */
"use strict";

(() => {
  const HIGHLIGHT_MS = 4000; // how long a changed row stays highlighted
  const BACKOFF_FIRST_MS = 500;
  const BACKOFF_MAX_MS = 10000;
  const POLL_MS = 10000; // /api/latest while the websocket is down (or absent)
  const AGO_REFRESH_MS = 15000;
  const TOKEN_KEY = "webperf3-admin-token";

  const $ = (id) => document.getElementById(id);
  const meta = (name) => {
    const el = document.querySelector(`meta[name="${name}"]`);
    return el ? el.content : "";
  };
  const config = { wsPort: meta("webperf3-ws-port"), wsPath: meta("webperf3-ws-path") || "/" };

  const state = {
    rows: new Map(), // port → PortRow dict
    servers: new Map(), // port → ServerStatus dict
    generation: -1,
    canUndo: false,
    highlightUntil: new Map(), // port → Date.now() deadline
  };

  // -- formatting ------------------------------------------------------------

  const DASH = "—";

  function formatRate(bps) {
    if (bps === null || bps === undefined) return DASH;
    if (bps >= 1e9) return `${(bps / 1e9).toFixed(2)} Gbit/s`;
    const mbps = bps / 1e6;
    return `${mbps.toFixed(mbps >= 100 ? 0 : mbps >= 10 ? 1 : 2)} Mbit/s`;
  }

  function exactRate(bps) {
    return `${Math.round(bps).toLocaleString()} bit/s`;
  }

  function formatTime(seconds) {
    const when = new Date(seconds * 1000);
    const today = new Date().toDateString() === when.toDateString();
    return today ? when.toLocaleTimeString() : when.toLocaleString();
  }

  function ago(seconds) {
    const diff = Date.now() / 1000 - seconds;
    if (diff < 45) return "just now";
    if (diff < 90) return "1 min ago";
    if (diff < 3600) return `${Math.round(diff / 60)} min ago`;
    if (diff < 5400) return "1 h ago";
    if (diff < 86400) return `${Math.round(diff / 3600)} h ago`;
    const days = Math.round(diff / 86400);
    return days === 1 ? "1 day ago" : `${days} days ago`;
  }

  const DIRECTIONS = { upload: "upload", download: "download", bidirectional: "bidir" };

  function quality(result) {
    // Lines, one per figure: UDP has two (jitter, loss).
    if (result.protocol === "UDP") {
      const lines = [];
      if (result.jitter_ms !== null) lines.push(`${result.jitter_ms.toFixed(3)} ms jitter`);
      if (result.loss_percent !== null) lines.push(`${result.loss_percent.toFixed(2)} % loss`);
      return lines;
    }
    return result.retransmits === null ? [] : [`${result.retransmits} retr.`];
  }

  function qualityCell(result) {
    const lines = result ? quality(result) : [];
    if (!lines.length) return cell(DASH, { cls: "quality" });
    const td = cell("", { cls: "quality" });
    const both = document.createElement("span");
    lines.forEach((line, i) => {
      const span = document.createElement("span");
      span.textContent = line;
      both.append(...(i ? [" ", span] : [span])); // the space collapses between blocks
    });
    td.append(both);
    return td;
  }

  function serverStatus(port) {
    const server = state.servers.get(port);
    if (!server) return { text: DASH, kind: "none", title: "no iperf3 server known on this port" };
    const details = [`state: ${server.state}`];
    if (server.restarts) details.push(`restarts: ${server.restarts}`);
    if (server.last_exit !== null && server.last_exit !== undefined) details.push(`last exit: ${server.last_exit}`);
    if (server.version) details.push(`iperf3 ${server.version}`);
    const title = details.join("; ");
    switch (server.state) {
      case "idle":
        return { text: "idle", kind: "idle", title };
      case "testing":
        return { text: "testing", detail: server.client ? `from ${server.client}` : "", kind: "testing", title };
      case "starting":
        return { text: "starting", kind: "starting", title };
      default: // restarting, failed
        return { text: "down", kind: "down", title };
    }
  }

  // -- the table ---------------------------------------------------------------

  const LABELS = [
    "Port", "Status", "Name", "Client", "Time", "Direction",
    "Download", "Upload", "Protocol", "Retr. / jitter, loss", "Error",
  ];

  function cell(text, { cls = "", title = "" } = {}) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    if (title) td.title = title;
    return td;
  }

  function rateCell(bps) {
    const td = cell(formatRate(bps), { cls: "num" });
    if (bps !== null && bps !== undefined) td.title = exactRate(bps);
    return td;
  }

  function timeCell(result) {
    const td = document.createElement("td");
    td.className = "time";
    if (!result) {
      td.textContent = DASH;
      return td;
    }
    const time = document.createElement("time");
    time.dateTime = new Date(result.time * 1000).toISOString();
    time.title = new Date(result.time * 1000).toString();
    time.textContent = formatTime(result.time);
    const since = document.createElement("span");
    since.className = "ago";
    since.dataset.time = String(result.time);
    since.textContent = ago(result.time);
    const both = document.createElement("span"); // one flex item on a phone
    both.append(time, " ", since);
    td.append(both);
    return td;
  }

  function statusCell(port) {
    const status = serverStatus(port);
    const td = document.createElement("td");
    const both = document.createElement("span"); // one flex item on a phone
    const badge = document.createElement("span");
    badge.className = `status status-${status.kind}`;
    badge.textContent = status.text;
    badge.title = status.title;
    both.append(badge);
    if (status.detail) {
      const detail = document.createElement("span");
      detail.className = "status-detail";
      detail.textContent = status.detail;
      both.append(" ", detail); // reads "testing from 192.0.2.7"
    }
    td.append(both);
    return td;
  }

  function failureIsNewest(row) {
    return Boolean(row.failure) && (!row.latest || row.failure.time >= row.latest.time);
  }

  function buildRow(row) {
    const latest = row.latest;
    const failed = failureIsNewest(row);
    const shown = latest || row.failure; // what name/client/time describe
    const tr = document.createElement("tr");
    tr.dataset.port = String(row.port);
    if (failed) tr.classList.add("failed");
    const name = shown && shown.name;
    const cells = [
      cell(String(row.port), { cls: "port" }),
      statusCell(row.port),
      cell(name || (shown ? "(no name)" : row.cleared_at ? "cleared" : "no tests yet"), { cls: name ? "name" : "name muted" }),
      cell((shown && shown.client) || DASH),
      timeCell(shown),
      cell(shown && shown.direction ? DIRECTIONS[shown.direction] || shown.direction : DASH),
      rateCell(latest ? latest.download_bps : null),
      rateCell(latest ? latest.upload_bps : null),
      cell(shown && shown.protocol ? shown.protocol + (shown.streams > 1 ? ` ×${shown.streams}` : "") : DASH),
      qualityCell(latest),
      errorCell(row, failed),
    ];
    cells.forEach((td, i) => td.setAttribute("data-label", LABELS[i]));
    tr.append(...cells);
    const until = state.highlightUntil.get(row.port) || 0;
    if (until > Date.now()) {
      tr.classList.add("changed");
      // A re-render must not restart the fade: resume it where it was.
      // (Setting style from script is allowed by the CSP; style="" is not.)
      const elapsed = HIGHLIGHT_MS - (until - Date.now());
      for (const td of cells) td.style.animationDelay = `-${elapsed}ms`;
    }
    return tr;
  }

  function errorCell(row, failed) {
    if (!failed) return cell("", { cls: "error" });
    const f = row.failure;
    const title = `failed test at ${new Date(f.time * 1000).toLocaleString()}` + (f.client ? ` from ${f.client}` : "");
    return cell(f.error || "failed", { cls: "error", title });
  }

  // A port is listed when it has a result or a known server: after a clear
  // with no fleet running, the table really is empty.
  function visible(row) {
    return Boolean(row.latest || row.failure || state.servers.has(row.port));
  }

  function render() {
    const ports = new Set([...state.rows.keys(), ...state.servers.keys()]);
    const fragment = document.createDocumentFragment();
    let shown = 0;
    for (const port of [...ports].sort((a, b) => a - b)) {
      const row = state.rows.get(port) || { port, latest: null, failure: null, cleared_at: null, tests: 0 };
      if (!visible(row)) continue;
      fragment.append(buildRow(row));
      shown += 1;
    }
    $("rows").replaceChildren(fragment);
    $("empty").hidden = shown > 0;
    const cleared = [...state.rows.values()].some((row) => row.cleared_at);
    $("empty-title").textContent = cleared ? "The table is cleared: new tests will appear here." : "No tests yet.";
    $("undo").hidden = !state.canUndo;
  }

  function refreshAgo() {
    for (const el of document.querySelectorAll(".ago[data-time]")) {
      el.textContent = ago(Number(el.dataset.time));
    }
  }

  function rowKey(row) {
    const key = (r) => (r ? `${r.time}:${r.offset}` : "");
    return row ? `${key(row.latest)}|${key(row.failure)}` : "";
  }

  function highlight(ports) {
    const until = Date.now() + HIGHLIGHT_MS;
    for (const port of ports) state.highlightUntil.set(port, until);
    if (ports.length) setTimeout(unhighlight, HIGHLIGHT_MS + 50);
  }

  function unhighlight() {
    const now = Date.now();
    for (const [port, until] of state.highlightUntil) {
      if (until <= now) state.highlightUntil.delete(port);
    }
    for (const tr of $("rows").querySelectorAll("tr.changed")) {
      if (!state.highlightUntil.has(Number(tr.dataset.port))) tr.classList.remove("changed");
    }
  }

  // -- applying what the server says ------------------------------------------

  function replaceRows(rows, { highlightChanges }) {
    const previous = state.rows;
    state.rows = new Map(rows.map((row) => [row.port, row]));
    if (highlightChanges) {
      const changed = rows.filter((row) => previous.has(row.port) && rowKey(previous.get(row.port)) !== rowKey(row) && (row.latest || row.failure));
      highlight(changed.map((row) => row.port));
    }
  }

  function applySnapshot(message) {
    // The first snapshot after (re)connecting is authoritative, whatever its
    // generation: a restarted webperf3 counts from 0 again.
    replaceRows(message.rows || [], { highlightChanges: state.generation >= 0 });
    if (Array.isArray(message.servers)) applyServers(message.servers, false);
    state.generation = message.generation;
    state.canUndo = Boolean(message.can_undo);
    updated();
    render();
  }

  function applyResults(message) {
    const rows = message.rows || [];
    for (const row of rows) state.rows.set(row.port, row);
    highlight(rows.map((row) => row.port));
    if (typeof message.generation === "number") state.generation = message.generation;
    updated();
    render();
  }

  function applyServers(servers, rerender = true) {
    state.servers = new Map(servers.map((server) => [server.port, server]));
    if (rerender) render();
  }

  function applyLatest(data) {
    // While the websocket is live, a fetch may return after a newer message:
    // keep the newer. While it is down, HTTP is all there is (and a restarted
    // webperf3 counts generations from 0 again).
    const live = socket !== null && socket.readyState === WebSocket.OPEN;
    if (live && typeof data.generation === "number" && data.generation < state.generation) return;
    replaceRows(data.rows || [], { highlightChanges: state.generation >= 0 });
    state.generation = data.generation;
    state.canUndo = Boolean(data.can_undo);
    updated();
    render();
  }

  function updated() {
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  }

  function onMessage(event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch (err) {
      console.warn("webperf3: ignoring a message that is not JSON", err);
      return;
    }
    if (!message || typeof message !== "object") return;
    if (message.type === "snapshot") applySnapshot(message);
    else if (message.type === "results") applyResults(message);
    else if (message.type === "servers" && Array.isArray(message.servers)) applyServers(message.servers);
  }

  // -- HTTP --------------------------------------------------------------------

  async function getJSON(path) {
    const response = await fetch(path, { cache: "no-store", headers: { Accept: "application/json" } });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || `${path}: HTTP ${response.status}`);
    return data;
  }

  async function updateNow() {
    try {
      const [latest, servers] = await Promise.all([getJSON("api/latest"), getJSON("api/servers")]);
      applyServers(servers.servers || [], false);
      applyLatest(latest);
    } catch (err) {
      showMessage(`Could not update: ${err.message}`);
    }
  }

  async function post(path) {
    // Asks for the admin token only when the server wants one, then keeps it
    // for this tab (sessionStorage) so the user types it once.
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const token = sessionStorage.getItem(TOKEN_KEY);
      const headers = { Accept: "application/json" };
      if (token) headers["X-Admin-Token"] = token;
      const response = await fetch(path, { method: "POST", headers, cache: "no-store" });
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

  async function clearTable() {
    if (!window.confirm("Clear the table? The tests stay in the logs and the CSV; Undo brings them back.")) return;
    await action("api/clear", "Could not clear the table");
  }

  async function undoClear() {
    await action("api/clear/undo", "Could not undo the clear");
  }

  async function action(path, failure) {
    const buttons = [$("clear"), $("undo")];
    buttons.forEach((b) => (b.disabled = true));
    try {
      const result = await post(path);
      state.canUndo = Boolean(result.can_undo);
      await updateNow(); // the websocket brings the same; this is for when it is down
    } catch (err) {
      showMessage(`${failure}: ${err.message}`);
    } finally {
      buttons.forEach((b) => (b.disabled = false));
      render();
    }
  }

  let messageTimer = null;
  function showMessage(text) {
    const el = $("message");
    el.textContent = text;
    el.hidden = false;
    clearTimeout(messageTimer);
    messageTimer = setTimeout(() => (el.hidden = true), 10000);
  }

  // -- the websocket -------------------------------------------------------------

  let socket = null;
  let failures = 0;
  let reconnectTimer = null;
  let pollTimer = null;

  function setConnection(kind, title = "") {
    const el = $("connection");
    const text = { live: "live", connecting: "connecting…", reconnecting: "reconnecting…", offline: "offline", polling: "polling" };
    el.dataset.state = kind;
    el.textContent = text[kind] || kind;
    el.title = title;
  }

  function wsURL() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let host = location.hostname;
    if (host.includes(":") && !host.startsWith("[")) host = `[${host}]`; // IPv6
    const path = config.wsPath.startsWith("/") ? config.wsPath : `/${config.wsPath}`;
    return `${scheme}//${host}:${config.wsPort}${path}`;
  }

  function connect() {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    let ws;
    try {
      ws = new WebSocket(wsURL());
    } catch (err) {
      console.warn("webperf3: cannot open the websocket", err);
      scheduleReconnect();
      return;
    }
    socket = ws;
    ws.onopen = () => {
      if (ws !== socket) return;
      failures = 0;
      stopPolling();
      setConnection("live", wsURL());
    };
    ws.onmessage = (event) => {
      if (ws === socket) onMessage(event);
    };
    ws.onclose = () => {
      if (ws !== socket) return;
      socket = null;
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    // Exponential backoff with jitter, so a restarted server is not hit by
    // every browser at the same instant.
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** failures);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    failures += 1;
    const offline = navigator.onLine === false;
    setConnection(offline ? "offline" : "reconnecting", `next attempt in ${(delay / 1000).toFixed(1)} s`);
    startPolling();
    reconnectTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (socket || !config.wsPort) return;
    failures = 0;
    connect();
  }

  function startPolling() {
    if (pollTimer === null) pollTimer = setInterval(updateNow, POLL_MS);
  }

  function stopPolling() {
    clearInterval(pollTimer);
    pollTimer = null;
  }

  // -- start -----------------------------------------------------------------------

  function start() {
    $("refresh").addEventListener("click", updateNow);
    $("clear").addEventListener("click", clearTable);
    $("undo").addEventListener("click", undoClear);
    $("host-hint").textContent = location.hostname || "this-host";
    setInterval(refreshAgo, AGO_REFRESH_MS);
    window.addEventListener("online", reconnectNow);
    window.addEventListener("offline", () => {
      if (!socket) setConnection("offline");
    });
    // Phones drop sockets of background tabs: come back at once when shown.
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) reconnectNow();
    });
    updateNow();
    if (config.wsPort) {
      setConnection("connecting");
      connect();
    } else {
      setConnection("polling", "this server has no live updates");
      startPolling();
    }
  }

  start();
})();
