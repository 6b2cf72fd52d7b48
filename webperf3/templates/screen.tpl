<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="webperf3-ws-port" content="{{ws_port}}">
<meta name="webperf3-ws-path" content="{{ws_path}}">
<meta name="webperf3-pairing" content="{{pairing}}">
<title>{{station + " — " if station else ""}}station screen — webperf3</title>
<link rel="icon" href="static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="static/webperf3.css?v={{version}}">
<script src="static/js/loadcheck.js?v={{version}}"></script>
<script type="module" src="static/js/screen.js?v={{version}}"></script>
</head>
<body class="screen">
<div class="screen-frame" id="screen-frame">
  <header class="screen-head">
    <span class="screen-station">{{station or "webperf3"}}</span>
    <span class="screen-survey" id="screen-survey">…</span>
    <span class="screen-counts" id="screen-counts"></span>
    <span id="connection" class="connection" data-state="connecting" role="status">connecting…</span>
  </header>
  <div class="screen-tiles" id="screen-tiles" role="list" aria-label="Ports"></div>
  <aside class="screen-side">
    <figure class="screen-qr">
      <img id="screen-page-qr" src="qr.svg?page=1" alt="QR code of the station's page">
      <figcaption>Open on a phone</figcaption>
    </figure>
    <figure class="screen-qr" id="screen-pair" hidden>
      <img id="screen-pair-qr" alt="QR code that pairs a phone as an admin device">
      <figcaption>Pair a phone (admin)</figcaption>
    </figure>
    <section class="screen-worst">
      <h2>Worst places</h2>
      <ol id="screen-worst"></ol>
    </section>
  </aside>
</div>
</body>
</html>
