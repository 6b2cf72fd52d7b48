<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="webperf3-ws-port" content="{{ws_port}}">
<meta name="webperf3-ws-path" content="{{ws_path}}">
<meta name="webperf3-admin" content="{{admin}}">
<title>webperf3 — iperf3 survey</title>
<link rel="icon" href="static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="static/webperf3.css?v={{version}}">
<script src="static/webperf3.js?v={{version}}" defer></script>
</head>
<body>
<header class="top">
  <div class="title">
    <h1>webperf3</h1>
    <span id="connection" class="connection" data-state="connecting" role="status" aria-live="polite">connecting…</span>
    <span id="updated" class="updated"></span>
  </div>
  <div class="actions">
    <button id="refresh" type="button">Update now</button>
    <a id="csv" class="button" href="csv" download="iperf3_log.csv">Download CSV</a>
    <button id="clear" type="button" class="danger">Clear table</button>
    <button id="undo" type="button" hidden>Undo clear</button>
  </div>
</header>
<main>
  <p id="message" class="message" role="alert" hidden></p>
  <div class="table-wrap">
    <table id="results">
      <thead>
        <tr>
          <th scope="col">Port</th>
          <th scope="col">Status</th>
          <th scope="col">Name</th>
          <th scope="col">Client</th>
          <th scope="col">Time</th>
          <th scope="col">Direction</th>
          <th scope="col" class="num">Download</th>
          <th scope="col" class="num">Upload</th>
          <th scope="col">Protocol</th>
          <th scope="col" class="wrap" title="TCP: retransmits; UDP: jitter and packet loss">Retransmits / jitter, loss</th>
          <th scope="col">Error</th>
        </tr>
      </thead>
      <tbody id="rows"></tbody>
    </table>
  </div>
  <p id="empty" class="empty" hidden><span id="empty-title">No tests yet.</span> From a client, run for example
    <code>iperf3 -c <span id="host-hint">this-host</span> -p 5201 --extra-data "Room 101"</code></p>
  <noscript><p class="message">This dashboard needs JavaScript. The results are also at <a href="csv">csv</a> and <a href="api/latest">api/latest</a>.</p></noscript>
</main>
<footer>
  <span>Download and upload are from the client's point of view.</span>
  <span>webperf3 {{version}}</span>
</footer>
</body>
</html>
