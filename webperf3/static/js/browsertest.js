// "Test from this browser": latency idle, download, upload, each with a
// moving figure, as the station's side (webperf3/browsertest/server.py)
// runs it on the websocket port. The method is LibreSpeed's and
// OpenSpeedTest's: several parallel streams, incompressible bytes, a
// warm-up that is not counted, a fixed time per direction (shorter on a
// fast link), no correction factor. Who measured what:
//   download  bytes THIS BROWSER received, counted after the warm-up (in a
//             worker, browsertest-worker.js, with the streams: the pongs
//             never wait behind thousands of its messages on this thread);
//   upload    bytes THE STATION received, counted and timed there (its
//             figures come back as "upload_progress" / "upload_done");
//   latency   this browser's round trips of small messages on a connection
//             of their own (the control connection), idle and during each
//             direction: median and 90th percentile.
// Everything it shows says "browser, HTTP": it measures HTTP goodput
// through the browser (a websocket), not iperf3's TCP.
//
//   runBrowserTest({onPhase})  → the station's "result" message, or throws
//   wireBrowserTest({...})     the button and its status line (device.js)

import { $ } from "./dom.js";
import { formatRate } from "./format.js";

const PING_GAP_MS = 100; // between a pong and the next ping
const IDLE_PINGS = 10;

export const METHOD_LABEL = "browser, HTTP";

function meta(name) {
  const node = document.querySelector(`meta[name="${name}"]`);
  return node ? node.content : "";
}

export function stationUrl(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  let host = location.hostname;
  if (host.includes(":") && !host.startsWith("[")) host = `[${host}]`; // IPv6
  return `${scheme}//${host}:${meta("webperf3-ws-port")}${path}`;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function median(values) {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

// The control connection: JSON both ways, pongs matched to their pings.
class Control {
  constructor(ws) {
    this.ws = ws;
    this.waiting = new Map(); // type → [resolve, reject]
    this.pongs = new Map(); // n → resolve
    this.onProgress = () => {};
    this.closed = null; // why, once closed
    ws.addEventListener("message", (event) => this.received(JSON.parse(event.data)));
    ws.addEventListener("close", (event) => {
      this.closed = event.reason || "the connection to the station closed";
      for (const [, [, reject]] of this.waiting) reject(new Error(this.closed));
      this.waiting.clear();
      for (const [, [, reject]] of this.pongs) reject(new Error(this.closed));
      this.pongs.clear();
    });
  }

  received(msg) {
    if (msg.type === "pong") {
      const waiter = this.pongs.get(msg.n);
      this.pongs.delete(msg.n);
      if (waiter) waiter[0]();
      return;
    }
    if (msg.type === "upload_progress") {
      this.onProgress(msg);
      return;
    }
    const wanted = msg.type === "error" || msg.type === "busy" ? [...this.waiting.keys()] : [msg.type];
    for (const type of wanted) {
      const waiter = this.waiting.get(type);
      if (!waiter) continue;
      this.waiting.delete(type);
      // The station's own words are whole ("Browser test stopped: … Nothing recorded.").
      if (msg.type === "error" || msg.type === "busy") waiter[1](Object.assign(new Error(msg.message), { busy: msg.type === "busy", whole: true }));
      else waiter[0](msg);
    }
  }

  next(type) {
    if (this.closed) return Promise.reject(new Error(this.closed));
    return new Promise((resolve, reject) => this.waiting.set(type, [resolve, reject]));
  }

  send(msg) {
    this.ws.send(JSON.stringify(msg));
  }

  async ping(n) {
    const start = performance.now();
    if (this.closed) throw new Error(this.closed);
    const pong = new Promise((resolve, reject) => this.pongs.set(n, [resolve, reject]));
    this.send({ type: "ping", n });
    await pong;
    return performance.now() - start;
  }
}

function open(url, binaryType = "arraybuffer") {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = binaryType;
    ws.addEventListener("open", () => resolve(ws), { once: true });
    ws.addEventListener("error", () => reject(new Error("the station refused a test connection")), { once: true });
  });
}

// Pings one after another while `running()`, each RTT into `into`.
async function pinging(control, into, running, counter) {
  try {
    while (running() && !control.closed) {
      into.push(await control.ping(counter.n++));
      await sleep(PING_GAP_MS);
    }
  } catch {
    // the control connection closed: the test itself says why
  }
}

// The streams' worker (browsertest-worker.js): its next message of a type.
function workerMessage(worker, type) {
  return new Promise((resolve, reject) => {
    const listen = (event) => {
      if (event.data.type === "error") {
        worker.removeEventListener("message", listen);
        reject(new Error(event.data.message));
      } else if (event.data.type === type) {
        worker.removeEventListener("message", listen);
        resolve(event.data);
      }
    };
    worker.addEventListener("message", listen);
  });
}

export async function runBrowserTest({ onPhase = () => {} } = {}) {
  const first = await open(stationUrl("/browser-test"));
  const control = new Control(first);
  const ready = await control.next("ready");
  const latency = { idle: [], download: [], upload: [] };
  const counter = { n: 0 };
  const urls = (direction) => Array.from({ length: ready.streams }, () => stationUrl(`/browser-test/${direction}?t=${encodeURIComponent(ready.token)}`));
  const worker = new Worker(new URL("./browsertest-worker.js", import.meta.url), { type: "module" });
  // The control connection closing ends the test, wherever it is.
  const closed = new Promise((_, reject) => first.addEventListener("close", () => reject(new Error(control.closed || "the connection to the station closed"))));
  closed.catch(() => {});
  try {
    // -- idle latency
    onPhase("latency", "Latency, idle…");
    for (let i = 0; i < IDLE_PINGS; i++) {
      latency.idle.push(await control.ping(counter.n++));
      onPhase("latency", `Latency, idle: ${median(latency.idle).toFixed(1)} ms`);
      await sleep(PING_GAP_MS / 2);
    }

    // -- download, counted in this browser (the worker)
    control.send({ type: "download" });
    await control.next("go");
    const progress = (event) => {
      if (event.data.type === "progress") onPhase("download", `Download: ${formatRate(event.data.bps)}${event.data.warmup ? " (warming up)" : ""}`);
    };
    worker.addEventListener("message", progress);
    const counted = workerMessage(worker, "download");
    worker.postMessage({
      cmd: "download", urls: urls("down"), warmupMs: ready.warmup_seconds * 1000, measureMs: ready.measure_seconds * 1000,
      fastMeasureMs: ready.fast_measure_seconds * 1000, fastBps: ready.fast_bps, capBytes: ready.direction_bytes,
    });
    let downloading = true;
    const downPings = pinging(control, latency.download, () => downloading, counter);
    const got = await Promise.race([counted, closed]);
    const download = { bytes: got.bytes, seconds: got.seconds };
    downloading = false;
    worker.removeEventListener("message", progress);
    await downPings;
    onPhase("download", `Download: ${formatRate((download.bytes * 8) / download.seconds)}`);

    // -- upload, counted and timed by the station
    control.send({ type: "upload" });
    await control.next("go");
    control.onProgress = (msg) => onPhase("upload", `Upload: ${formatRate(msg.bps)}${msg.warmup ? " (warming up)" : ""}`);
    const failed = workerMessage(worker, "never");
    failed.catch(() => {});
    worker.postMessage({ cmd: "upload", urls: urls("up"), messageBytes: ready.upload_message_bytes });
    let uploading = true;
    const upPings = pinging(control, latency.upload, () => uploading, counter);
    const done = await Promise.race([control.next("upload_done"), failed, closed]);
    uploading = false;
    worker.postMessage({ cmd: "stop" });
    await upPings;
    onPhase("upload", `Upload: ${formatRate(done.bps)}`);

    // -- the result, recorded by the station
    onPhase("saving", "Recording the result…");
    const result = control.next("result");
    control.send({ type: "finish", download, latency });
    return await result;
  } finally {
    worker.terminate(); // its streams go with it
    first.close();
  }
}

// The figures of a browser test's result, as one line.
export function summary(record) {
  const lat = record.latency || {};
  const ms = (v) => (v === null || v === undefined ? "—" : `${v.toFixed(v < 10 ? 1 : 0)} ms`);
  return (
    `↓ ${formatRate(record.download_bps)} received by this browser, ↑ ${formatRate(record.upload_bps)} received by the station; ` +
    `latency idle ${ms(lat.idle_ms)}, during download ${ms(lat.download_ms)}, during upload ${ms(lat.upload_ms)} (${METHOD_LABEL})`
  );
}

// The button and its status line. One test at a time from this page; the
// station's "busy" (another test from this address, or too many in all)
// is shown with its wait.
export function wireBrowserTest({ button = $("browser-test"), status = $("browser-test-status"), onDone = () => {} } = {}) {
  if (!button || !status) return;
  button.addEventListener("click", async () => {
    button.disabled = true;
    status.className = "browser-test-status running";
    status.dataset.phase = "starting";
    status.textContent = "Starting…";
    try {
      const answer = await runBrowserTest({
        onPhase: (phase, text) => {
          status.dataset.phase = phase;
          status.textContent = text;
        },
      });
      status.dataset.phase = "done";
      status.className = "browser-test-status done";
      status.textContent = `Recorded: ${summary(answer.record)}`;
      onDone(answer);
    } catch (err) {
      status.dataset.phase = err.busy ? "busy" : "failed";
      status.className = "browser-test-status failed";
      status.textContent = err.whole ? err.message : `The browser test stopped: ${err.message}. Nothing recorded.`;
    } finally {
      button.disabled = false;
    }
  });
}
