% rebase("base.tpl", title="Places", script="places")
<div class="places-bar">
  <form id="places-form" class="places-form" autocomplete="off">
    <label>Survey <select id="survey" name="survey"><option value="">current</option><option value="all">all surveys</option></select></label>
    <label>Compare with <select id="compare" name="compare"><option value="">— nothing —</option></select></label>
    <label>Red below <input id="red" name="red" type="number" min="0" step="any" inputmode="decimal" size="5"> Mbit/s</label>
    <label>Amber below <input id="amber" name="amber" type="number" min="0" step="any" inputmode="decimal" size="5"> Mbit/s</label>
  </form>
  <div class="actions">
    <a id="places-csv" class="button" href="csv?by=place" download="iperf3_places.csv">Download CSV</a>
    <a id="report-link" class="button" href="report">Printable report</a>
  </div>
</div>
<h2 class="places-title"><span id="survey-title">…</span> <span id="survey-span" class="muted-plain"></span></h2>
<p id="places-order" class="places-order"></p>
<p class="legend"><span class="swatch grade-bad"></span> below <span id="legend-red">50</span> Mbit/s
  <span class="swatch grade-fair"></span> below <span id="legend-amber">100</span> Mbit/s
  <span class="swatch grade-good"></span> at or above
  <span class="swatch grade-failed"></span> every test failed</p>
<div class="table-wrap" id="places-wrap">
  <table id="places">
    <thead>
      <tr>
        <th scope="col">Place</th>
        <th scope="col" class="num">Tests</th>
        <th scope="col" class="num">Failed</th>
        <th scope="col">Last test</th>
        <th scope="col" class="num">Download median<span class="side">sent by the station</span></th>
        <th scope="col" class="num">min – max</th>
        <th scope="col" class="num">Upload median<span class="side">received by the station</span></th>
        <th scope="col" class="num">min – max</th>
        <th scope="col" class="wrap">UDP jitter, loss<span class="side">↑ the station's, ↓ the client's</span></th>
        <th scope="col" class="wrap">Browser tests<span class="side">browser, HTTP: medians, apart</span></th>
      </tr>
    </thead>
    <tbody id="place-rows"></tbody>
  </table>
</div>
<div class="table-wrap" id="compared-wrap" hidden>
  <table id="compared">
    <thead>
      <tr>
        <th scope="col">Place</th>
        <th scope="col" class="num">Download median<span class="side" id="compare-a-down">A</span></th>
        <th scope="col" class="num">Download median<span class="side" id="compare-b-down">B</span></th>
        <th scope="col" class="num">Change</th>
        <th scope="col" class="num">Upload median<span class="side" id="compare-a-up">A</span></th>
        <th scope="col" class="num">Upload median<span class="side" id="compare-b-up">B</span></th>
        <th scope="col" class="num">Change</th>
      </tr>
    </thead>
    <tbody id="compared-rows"></tbody>
  </table>
</div>
<div id="places-unplaced"></div>
<p class="muted-plain" id="places-browser-note" hidden>A place with only browser tests is graded by its browser figures, shown in its median columns marked "browser, HTTP" (the download received by the browser, the upload by the station), never mixed with iperf3's.</p>
<p id="places-empty" class="empty" hidden>No tests in this survey yet.</p>
<div id="place-chart" class="place-chart" hidden></div>
