% rebase("base.tpl", title="History", script="history")
<div class="survey-bar">
  <p class="survey-now"><label for="h-survey">Survey</label>
    <select id="h-survey" name="survey">
      <option value="">current</option>
      <option value="all">all surveys</option>
    </select>
  </p>
  <p id="h-count" class="h-count" role="status" aria-live="polite"></p>
</div>
<form id="h-filters" class="h-filters" autocomplete="off">
  <label>Place
    <select name="place" id="h-place"><option value="">any</option><option value="-">(no place)</option></select>
  </label>
  <label>Port
    <select name="port" id="h-port"><option value="">any</option></select>
  </label>
  <label>Client
    <input name="client" id="h-client" list="h-clients" placeholder="address or part" inputmode="decimal" size="14">
    <datalist id="h-clients"></datalist>
  </label>
  <label>Direction
    <select name="direction" id="h-direction">
      <option value="">any</option><option value="upload">upload</option><option value="download">download</option><option value="bidirectional">bidir</option>
    </select>
  </label>
  <label>Method
    <select name="method" id="h-method">
      <option value="">any</option><option value="iperf3">iperf3</option><option value="browser">browser, HTTP</option>
    </select>
  </label>
  <label>Outcome
    <select name="outcome" id="h-outcome">
      <option value="">any</option><option value="ok">ok</option><option value="failed">failed</option><option value="interrupted">interrupted by the station</option><option value="excluded">excluded</option>
    </select>
  </label>
  <label>From <input type="datetime-local" name="since" id="h-since" step="1"></label>
  <label>Until <input type="datetime-local" name="until" id="h-until" step="1"></label>
  <label>Sort by
    <select name="sort" id="h-sort">
      <option value="time">time</option><option value="place">place</option><option value="port">port</option><option value="client">client</option>
      <option value="direction">direction</option><option value="download">download</option><option value="upload">upload</option>
      <option value="protocol">protocol</option><option value="quality">retr. / loss</option><option value="error">error</option>
    </select>
  </label>
  <label>Order
    <select name="order" id="h-order"><option value="desc">descending</option><option value="asc">ascending</option></select>
  </label>
  <button type="button" id="h-reset">Clear filters</button>
</form>
<section class="h-charts" aria-labelledby="h-charts-title">
  <div class="h-charts-head">
    <h2 id="h-charts-title">Over time</h2>
    <div class="h-by" role="group" aria-label="One line per">
      <span>One line per</span>
      <button type="button" data-by="port" aria-pressed="true">port</button>
      <button type="button" data-by="place" aria-pressed="false">place</button>
    </div>
  </div>
  <div class="h-chart-pair">
    <figure class="h-chart">
      <figcaption>Download <span class="side" id="h-download-side">sent by the station</span></figcaption>
      <div id="h-chart-download" class="chart"></div>
    </figure>
    <figure class="h-chart">
      <figcaption>Upload <span class="side">received by the station</span></figcaption>
      <div id="h-chart-upload" class="chart"></div>
    </figure>
  </div>
</section>
<div class="table-wrap">
  <table id="h-table">
    <thead>
      <tr>
        <th scope="col" data-sort="time"><button type="button">Time</button></th>
        <th scope="col" data-sort="place"><button type="button">Place</button></th>
        <th scope="col" data-sort="port"><button type="button">Port</button></th>
        <th scope="col" data-sort="client"><button type="button">Client</button></th>
        <th scope="col" data-sort="direction"><button type="button">Direction</button></th>
        <th scope="col" class="num" data-sort="download"><button type="button">Download<span class="side">sent by the station</span></button></th>
        <th scope="col" class="num" data-sort="upload"><button type="button">Upload<span class="side">received by the station</span></button></th>
        <th scope="col" data-sort="protocol"><button type="button">Protocol</button></th>
        <th scope="col" class="wrap" data-sort="quality"><button type="button">Retr. / jitter, loss<span class="side">as the station measured</span></button></th>
        <th scope="col" data-sort="error"><button type="button">Error</button></th>
        <th scope="col">Edit</th>
      </tr>
    </thead>
    <tbody id="h-rows"></tbody>
  </table>
</div>
<p id="h-empty" class="empty" hidden>No tests match these filters.</p>
<nav class="h-pager" aria-label="Pages of tests">
  <button type="button" id="h-prev">‹ Previous</button>
  <span id="h-range"></span>
  <button type="button" id="h-next">Next ›</button>
</nav>
