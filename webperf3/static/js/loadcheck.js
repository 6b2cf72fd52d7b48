// A page whose modules did not all load. A phone that roams from one access
// point to the next while the page loads gets "network changed" for the
// requests in flight; one lost module and the page's script never runs: it
// would say "connecting…" for good, with nothing to tap.
//
// A classic script, run before the page's module: when that module (or any
// module it imports) fails to load, the browser fires "error" at its
// <script> element, seen here in the capture phase. The page then reloads
// itself, a few times at most, and otherwise says what happened.

(() => {
  const KEY = "webperf3-reloads";
  const MAX_RELOADS = 3;
  const WITHIN_MS = 60000;
  const DELAY_MS = 1500;

  const recent = () => {
    try {
      const said = JSON.parse(sessionStorage.getItem(KEY) || "[]");
      return Array.isArray(said) ? said.filter((t) => typeof t === "number" && Date.now() - t < WITHIN_MS) : [];
    } catch (err) {
      return []; // storage refused (private mode): reload anyway, MAX_RELOADS still bounds it per page
    }
  };

  const remember = (times) => {
    try {
      sessionStorage.setItem(KEY, JSON.stringify(times));
    } catch (err) {
      // nothing to keep it in: the next load counts from zero
    }
  };

  const say = (text) => {
    const status = document.getElementById("connection");
    if (status) {
      status.dataset.state = "offline";
      status.textContent = "not loaded";
    }
    const box = document.getElementById("message");
    if (box) {
      box.textContent = text;
      box.hidden = false;
    }
  };

  let failed = false;
  window.addEventListener(
    "error",
    (event) => {
      const target = event.target;
      if (failed || !(target instanceof HTMLScriptElement) || target.type !== "module") return;
      failed = true;
      const times = recent();
      if (times.length >= MAX_RELOADS) {
        say("This page did not load completely (the network changed or the station did not answer). Reload it to try again.");
        return;
      }
      remember([...times, Date.now()]);
      say("This page did not load completely (the network changed while it loaded): loading it again…");
      setTimeout(() => location.reload(), DELAY_MS);
    },
    true,
  );
})();
