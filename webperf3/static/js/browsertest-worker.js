// The streams of "Test from this browser" (browsertest.js), in a worker of
// their own, as LibreSpeed runs its test in speedtest_worker.js: thousands of
// large messages a second would otherwise queue on the page's own thread,
// ahead of the control connection's pongs, and the latency "under load"
// would be the page's backlog instead of the network's.
//
// Asked {cmd: "download", urls, warmupMs, measureMs, fastMeasureMs, fastBps, capBytes}:
//   counts what this browser receives, posts {type: "progress", bps, warmup}
//   about five times a second, then {type: "download", bytes, seconds} (the
//   counted seconds only, after the warm-up) and closes the streams; an
//   error, never a 0, when no byte came in the counted seconds.
// Asked {cmd: "upload", urls, messageBytes}: once each stream has the
//   station's first message, sends incompressible messages,
//   keeping a few MiB queued per stream, until {cmd: "stop"}. The station
//   counts and times the upload itself.
// Anything going wrong: {type: "error", message}.

const UPLOAD_BUFFER = 4 << 20; // bytes a stream keeps queued in the browser
let streams = [];
let uploading = false;

function openStream(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    ws.addEventListener("open", () => resolve(ws), { once: true });
    ws.addEventListener("error", () => reject(new Error("the station refused a test connection")), { once: true });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function closeAll() {
  for (const ws of streams) ws.close();
  streams = [];
}

async function download({ urls, warmupMs, measureMs, fastMeasureMs, fastBps, capBytes }) {
  let received = 0;
  let lastAt = 0; // when the last message came
  let open = 0;
  const count = (event) => {
    received += event.data.byteLength;
    lastAt = performance.now();
  };
  streams = await Promise.all(urls.map(async (url) => {
    const ws = await openStream(url);
    ws.addEventListener("message", count);
    ws.addEventListener("close", () => (open -= 1), { once: true });
    open += 1;
    return ws;
  }));
  // The station starts every stream once the last is in: the warm-up
  // starts here. It also ends at a quarter of the station's cap, or a link
  // that fast would spend the cap before anything is counted.
  const start = performance.now();
  const warmBytes = capBytes ? capBytes / 4 : Infinity;
  let b0 = 0;
  let t0 = 0;
  let measure = measureMs;
  for (;;) {
    await sleep(200);
    const now = performance.now();
    if (!t0 && (now - start >= warmupMs || received >= warmBytes)) {
      b0 = received;
      t0 = now;
    }
    const bps = t0 ? ((received - b0) * 8000) / Math.max(1, now - t0) : (received * 8000) / (now - start);
    if (t0 && now - t0 >= 1000 && bps >= fastBps) measure = Math.min(measure, fastMeasureMs);
    // Every stream ended by the station (its cap): the measure ends at the
    // last byte, not at the clock's end, so the seconds it was idle do not
    // lower the figure.
    const ended = open <= 0;
    if (t0 && (now - t0 >= measure || ended)) {
      const bytes = received - b0;
      const seconds = ((ended ? Math.max(lastAt, t0) : now) - t0) / 1000;
      closeAll();
      if (bytes <= 0) throw new Error(ended ? "the station's download streams ended before the measure began" : "no download bytes reached this browser in the measured seconds");
      postMessage({ type: "download", bytes, seconds });
      return;
    }
    if (!t0 && ended) throw new Error("the station's download streams ended during the warm-up");
    postMessage({ type: "progress", bps, warmup: !t0 });
  }
}

async function upload({ urls, messageBytes }) {
  const chunk = new Uint8Array(messageBytes);
  // Incompressible: getRandomValues fills at most 64 KiB a call.
  for (let at = 0; at < chunk.length; at += 65536) crypto.getRandomValues(chunk.subarray(at, Math.min(chunk.length, at + 65536)));
  // Each stream sends once the station's "go" has come: the station counts
  // its bytes from there on without reading them as messages.
  streams = await Promise.all(urls.map(async (url) => {
    const ws = await openStream(url);
    await new Promise((resolve, reject) => {
      ws.addEventListener("message", resolve, { once: true });
      ws.addEventListener("close", () => reject(new Error("the station closed an upload stream")), { once: true });
    });
    return ws;
  }));
  uploading = true;
  const pump = (ws) => {
    if (!uploading || ws.readyState !== WebSocket.OPEN) return;
    while (ws.bufferedAmount < UPLOAD_BUFFER) ws.send(chunk);
    setTimeout(() => pump(ws), 2);
  };
  streams.forEach(pump);
}

addEventListener("message", async (event) => {
  const ask = event.data;
  try {
    if (ask.cmd === "download") await download(ask);
    else if (ask.cmd === "upload") await upload(ask);
    else if (ask.cmd === "stop") {
      uploading = false;
      closeAll();
    }
  } catch (err) {
    uploading = false;
    closeAll();
    postMessage({ type: "error", message: err.message });
  }
});
