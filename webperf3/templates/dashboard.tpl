% rebase("base.tpl", title="iperf3 survey", script="dashboard")
<div class="dashboard">
% # This device first: a phone opens on it (and a screen reader reads it first).
% # A wider screen puts the survey bar and the worst places above it, where they
% # were (webperf3.css, "the dashboard's layout"). #device-live is dashboard.js's.
<section class="device" id="device" aria-labelledby="device-title">
  <h2 id="device-title">This device</h2>
  <form id="place-form" class="place-form" autocomplete="off">
    <label for="place">Where are you?</label>
    <input id="place" name="place" list="places-used" maxlength="200" placeholder="e.g. Room 101" enterkeyhint="done">
    <datalist id="places-used"></datalist>
    <button type="submit" id="save-place">Save</button>
  </form>
  <details id="plan-picker" class="plan-picker" hidden>
    <summary>Or tap where you are on the floor plan</summary>
    <label>Floor <select id="plan-pick-menu"></select></label>
    <div class="map-stage"><img id="plan-pick-image" alt="" draggable="false"><div id="plan-pick-dots" class="map-dots"></div></div>
    <p id="plan-pick-note" class="saved" role="status" aria-live="polite"></p>
  </details>
  <p id="place-saved" class="saved" role="status" aria-live="polite"></p>
  <p id="device-note" class="device-note" role="status" aria-live="polite" hidden></p>
  <div id="device-live" class="device-live" aria-live="off"></div>
  <div class="device-how">
    <div>
      <dl class="device-facts">
        <dt>Place</dt><dd id="device-place">not named yet</dd>
        <dt>The station sees you as</dt><dd id="device-address">…</dd>
        <dt>In an iperf3 app</dt><dd>host <strong id="device-host">…</strong>, port <strong id="device-port">…</strong></dd>
      </dl>
      <p id="device-lease" class="device-lease" aria-live="polite"></p>
      <p class="device-terminal">In a terminal:</p>
      <div class="command"><code id="device-command">…</code><button type="button" id="copy-command">Copy</button></div>
    </div>
    % # Under the QR code, in the height the facts take already: the table stays on a laptop's first screen.
    <div class="device-side">
      <img id="device-qr" class="qr" alt="" width="132" height="132" hidden>
      <button type="button" id="browser-test" title="Latency, download and upload from this browser, with nothing installed: about 20 s (browser, HTTP)">Test from this browser</button>
    </div>
  </div>
  <p id="browser-test-status" class="browser-test-status" role="status" aria-live="polite"></p>
  <ul id="device-warnings" class="device-warnings" aria-live="polite" hidden></ul>
  <div id="device-tests" class="device-tests" hidden>
    <h3>This device's tests in this survey</h3>
    <ul id="device-results"></ul>
  </div>
</section>
<div class="survey-bar">
  <p class="survey-now">Survey: <strong id="survey-name">…</strong></p>
  <div class="actions" id="dashboard-actions">
  <button id="refresh" type="button">Update now</button>
  <a id="csv" class="button" href="csv" download="iperf3_log.csv">Download CSV</a>
  <a id="xlsx" class="button" href="xlsx" download="iperf3_log.xlsx">Download for Excel</a>
  <button id="new-survey" type="button">New survey</button>
  <button id="undo" type="button" hidden>Undo new survey</button>
  </div>
</div>
<section class="places-summary" id="places-summary" aria-labelledby="places-summary-title" hidden>
  <div class="places-summary-head">
    <h2 id="places-summary-title">Worst places in this survey <a id="places-summary-more" href="places">Places</a></h2>
    <div id="places-summary-unplaced"></div>
  </div>
  <div class="table-wrap">
    <table id="places-summary-table">
      <thead>
        <tr>
          <th scope="col">Place</th>
          <th scope="col" class="num">Tests</th>
          <th scope="col" class="num">Failed</th>
          <th scope="col" class="num">Download median<span class="side">sent by the station</span></th>
          <th scope="col" class="num">Upload median<span class="side">received by the station</span></th>
        </tr>
      </thead>
      <tbody id="places-summary-rows"></tbody>
    </table>
  </div>
  <p class="muted-plain" id="places-summary-note" hidden>A place with only browser tests is graded by its browser figures (browser, HTTP: the download received by the browser, the upload by the station), never mixed with iperf3's.</p>
</section>
<details class="surveys" id="surveys">
  <summary>All surveys</summary>
  <ul id="survey-list"></ul>
</details>
<div class="table-wrap">
  <table id="results">
    <thead>
      <tr>
        <th scope="col">Port</th>
        <th scope="col">Status</th>
        <th scope="col">Place</th>
        <th scope="col">Client</th>
        <th scope="col">Time</th>
        <th scope="col">Direction</th>
        <th scope="col" class="num">Download<span class="side">sent by the station</span></th>
        <th scope="col" class="num">Upload<span class="side">received by the station</span></th>
        <th scope="col">Protocol</th>
        <th scope="col" class="wrap">Retransmits / jitter, loss<span class="side">as the station measured</span></th>
        <th scope="col">Error</th>
      </tr>
    </thead>
    <tbody id="rows"></tbody>
  </table>
</div>
<p id="empty" class="empty" hidden><span id="empty-title">No tests yet.</span> From a client, run for example
  <code>iperf3 -c <span id="host-hint">this-host</span> -p <span id="port-hint">{{first_port}}</span> --extra-data "Room 101"</code></p>
</div>
