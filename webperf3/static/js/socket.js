// The live push: one websocket to the station, reconnecting with backoff,
// and polling over HTTP while it is down. The server sends a "snapshot" on
// every connect, so reconnecting is also resynchronising.
//
// The websocket's port and path come from <meta> tags the server renders,
// never from a constant here.

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 10000;
const POLL_MS = 10000; // the page's poll() while the websocket is down (or absent)

const meta = (name) => {
  const el = document.querySelector(`meta[name="${name}"]`);
  return el ? el.content : "";
};

const LABELS = { live: "live", connecting: "connecting…", reconnecting: "reconnecting…", offline: "offline", polling: "polling" };

export class LiveSocket {
  // onMessage(message): every JSON object the station sends.
  // poll(): fetch the state over HTTP (while the socket is down).
  // onOpen(): each time the socket (re)connects, before its snapshot.
  constructor({ onMessage, poll, indicator, onOpen = () => {} }) {
    this.onMessage = onMessage;
    this.onOpen = onOpen;
    this.poll = poll;
    this.indicator = indicator;
    this.port = meta("webperf3-ws-port");
    this.path = meta("webperf3-ws-path") || "/";
    this.socket = null;
    this.failures = 0;
    this.reconnectTimer = null;
    this.pollTimer = null;
  }

  get live() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let host = location.hostname;
    if (host.includes(":") && !host.startsWith("[")) host = `[${host}]`; // IPv6
    const path = this.path.startsWith("/") ? this.path : `/${this.path}`;
    return `${scheme}//${host}:${this.port}${path}`;
  }

  start() {
    window.addEventListener("online", () => this.reconnectNow());
    window.addEventListener("offline", () => {
      if (!this.socket) this.show("offline");
    });
    // Phones drop sockets of background tabs: come back at once when shown.
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) this.reconnectNow();
    });
    if (this.port) {
      this.show("connecting");
      this.connect();
    } else {
      this.show("polling", "this server has no live updates");
      this.startPolling();
    }
  }

  show(kind, title = "") {
    const el = this.indicator;
    if (!el) return;
    el.dataset.state = kind;
    el.textContent = LABELS[kind] || kind;
    el.title = title;
  }

  connect() {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch (err) {
      console.warn("webperf3: cannot open the websocket", err);
      this.scheduleReconnect();
      return;
    }
    this.socket = ws;
    ws.onopen = () => {
      if (ws !== this.socket) return;
      this.failures = 0;
      this.stopPolling();
      this.show("live", this.url());
      this.onOpen();
    };
    ws.onmessage = (event) => {
      if (ws !== this.socket) return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (err) {
        console.warn("webperf3: ignoring a message that is not JSON", err);
        return;
      }
      if (message && typeof message === "object") this.onMessage(message);
    };
    ws.onclose = () => {
      if (ws !== this.socket) return;
      this.socket = null;
      this.scheduleReconnect();
    };
  }

  scheduleReconnect() {
    // Exponential backoff with jitter, so a restarted server is not hit by
    // every browser at the same instant.
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.failures);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.failures += 1;
    const offline = navigator.onLine === false;
    this.show(offline ? "offline" : "reconnecting", `next attempt in ${(delay / 1000).toFixed(1)} s`);
    this.startPolling();
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    if (this.socket || !this.port) return;
    this.failures = 0;
    this.connect();
  }

  startPolling() {
    if (this.pollTimer === null) this.pollTimer = setInterval(() => this.poll(), POLL_MS);
  }

  stopPolling() {
    clearInterval(this.pollTimer);
    this.pollTimer = null;
  }
}
