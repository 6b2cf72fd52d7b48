% rebase("base.tpl", title="Survey report", script="report")
<article class="report" id="report">
  <div class="report-tools no-print">
    <button type="button" id="print">Print / Save as PDF</button>
    <span class="muted-plain">Thresholds: red below <span id="report-red">50</span>, amber below <span id="report-amber">100</span> Mbit/s (as set on the Places page).</span>
  </div>
  <header class="report-head">
    <h2 id="report-title">Survey report</h2>
    <dl class="report-facts">
      <dt>Survey</dt><dd id="report-survey">…</dd>
      <dt>Tests from</dt><dd id="report-span">…</dd>
      <dt>Station</dt><dd id="report-station">{{station or "this station"}}</dd>
      <dt>Tests</dt><dd id="report-totals">…</dd>
    </dl>
  </header>
  <section class="report-section">
    <h3>Places, worst first</h3>
    <p id="report-order" class="places-order"></p>
    <table id="report-places" class="report-table">
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
          <th scope="col" class="wrap">UDP jitter, loss</th>
          <th scope="col" class="wrap">Browser tests<span class="side">browser, HTTP</span></th>
        </tr>
      </thead>
      <tbody id="report-rows"></tbody>
    </table>
    <div id="report-unplaced"></div>
  </section>
  <section class="report-section report-charts" id="report-charts-section">
    <h3>Per place</h3>
    <div id="report-chart" class="place-chart" hidden></div>
  </section>
  <div id="report-plans"></div>
  <section class="report-section">
    <h3>Failed tests</h3>
    <p id="report-no-failures" class="muted-plain" hidden>No test failed.</p>
    <table id="report-failures" class="report-table" hidden>
      <thead>
        <tr><th scope="col">Time</th><th scope="col">Place</th><th scope="col">Port</th><th scope="col">Client</th><th scope="col">Direction</th><th scope="col">Reason</th></tr>
      </thead>
      <tbody id="report-failure-rows"></tbody>
    </table>
    <p id="report-more-failures" class="muted-plain" hidden></p>
  </section>
  <section class="report-section report-how">
    <h3>How this was measured</h3>
    <p>Each test is one <code>iperf3</code> run from a phone or laptop at a place to this station, which runs
    the iperf3 servers and keeps their logs. A server's log holds only the station's side of a test, so
    every figure is named for the side that measured it. <strong>Upload</strong> is what the station
    <em>received</em> from the client. <strong>Download</strong> is what the station <em>sent</em>: for TCP the
    client received at most that, for UDP any of it may have been lost on the way (marked “client” where the
    log held what the client received). UDP jitter and loss of an upload are the station's; of a download
    only the client measured them, so they are “unknown” unless its figures were logged.</p>
    <p>A place's figure is the median of its tests that measured that side (a download from download and
    bidirectional tests, an upload from upload and bidirectional tests); failed tests are counted as failures,
    never as 0 Mbit/s; tests excluded on the station are left out. <span id="report-order-how"></span></p>
    <p><strong>Browser tests</strong> (“Test from this browser”, browser, HTTP) measure HTTP goodput through a
    phone's or laptop's browser, not iperf3's TCP: their download is what the browser received, their upload what
    the station received, their latency the browser's round trips idle and while each direction loaded the link.
    They are in their own column, never in the iperf3 medians.</p>
    <p>iperf3 versions seen: <span id="report-versions">…</span>.</p>
  </section>
</article>
