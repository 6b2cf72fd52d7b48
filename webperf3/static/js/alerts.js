// The station-status banner: what may be losing tests right now (a full
// disk, a log file moved away from under iperf3, a server that cannot
// start), from the problem each server reports (webperf3/ops/health.py groups
// them the same way for /healthz and /api/servers). Shown above the table
// until the station says it is over; text only, never markup.

import { $, el } from "./dom.js";

const KIND_TITLES = {
  disk: "Tests are being lost",
  log: "Tests may be lost",
  server: "A server is not running",
};

// One entry per distinct problem, with the ports it touches, in port order.
export function problemsOf(servers) {
  const found = new Map();
  for (const server of [...servers].sort((a, b) => a.port - b.port)) {
    let kind = server.problem_kind;
    let message = server.problem;
    if (!kind && server.state === "failed") {
      kind = "server";
      message = `iperf3 on port ${server.port} is not running: ${server.last_exit}`;
    }
    if (!kind || !message) continue;
    const key = `${kind}\u0000${message}`;
    if (!found.has(key)) found.set(key, { kind, message, ports: [] });
    found.get(key).ports.push(server.port);
  }
  return [...found.values()];
}

function banner() {
  let node = $("station-alerts");
  if (!node) {
    node = el("div", { cls: "station-alerts" });
    node.id = "station-alerts";
    node.setAttribute("role", "alert");
    node.hidden = true;
    const main = document.querySelector("main");
    if (main) main.prepend(node);
  }
  return node;
}

// Called with the servers' statuses whenever they change (snapshot,
// "servers" message, or a fetch of api/servers).
export function showAlerts(servers) {
  const node = banner();
  const problems = problemsOf(servers || []);
  node.replaceChildren(
    ...problems.map((p) => {
      const line = el("p", { cls: `station-alert ${p.kind}` });
      line.append(el("strong", { text: `${KIND_TITLES[p.kind] || "Problem"}: ` }), p.message);
      return line;
    }),
  );
  node.hidden = problems.length === 0;
}
