<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="webperf3-ws-port" content="{{ws_port}}">
<meta name="webperf3-ws-path" content="{{ws_path}}">
<meta name="webperf3-admin" content="{{admin}}">
<title>{{title}}{{" — " + station if station else ""}} — webperf3</title>
<link rel="icon" href="static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="static/webperf3.css?v={{version}}">
<script src="static/js/loadcheck.js?v={{version}}"></script>
<script type="module" src="static/js/{{script}}.js?v={{version}}"></script>
</head>
<body>
<header class="top">
  <div class="title">
    <h1>webperf3</h1>
    % if station:
    <span class="station" title="this station's name">{{station}}</span>
    % end
    <span id="connection" class="connection" data-state="connecting" role="status" aria-live="polite">connecting…</span>
    <span id="updated" class="updated"></span>
  </div>
  <nav class="pages" aria-label="Pages">
    % for href, label in (("./", "Dashboard"), ("history", "History"), ("places", "Places"), ("map", "Map"), ("report", "Report")):
    <a href="{{href}}"{{!' aria-current="page"' if get("page", "dashboard") == label.lower() else ""}}>{{label}}</a>
    % end
  </nav>
</header>
<main>
  <p id="message" class="message" role="alert" hidden></p>
  {{!base}}
  <noscript><p class="message">This page needs JavaScript. The results are also at <a href="csv">csv</a> and <a href="api/results">api/results</a>.</p></noscript>
</main>
<footer>
  <details class="figures-help" id="figures-help">
    <summary>What the figures mean</summary>
    <p><strong>Upload</strong> is what the station <em>received</em> from the client.
    <strong>Download</strong> is what the station <em>sent</em>: iperf3's server log holds only the station's side.
    For TCP the client received at most that; for UDP anything up to all of it may have been lost on the way.
    Jitter and loss of a UDP download were measured by the client alone: they show as “unknown” here.</p>
    <p>To get what the client received, read the client's own output (its <code>receiver</code> line),
    and run both an upload test and a <code>-R</code> (download) test from the same place.</p>
  </details>
  <span>webperf3 {{version}}</span>
</footer>
</body>
</html>
