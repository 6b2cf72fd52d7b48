% rebase("base.tpl", title="iperf3 survey", script="dashboard")
<div class="actions" id="dashboard-actions">
  <button id="refresh" type="button">Update now</button>
  <a id="csv" class="button" href="csv" download="iperf3_log.csv">Download CSV</a>
  <button id="clear" type="button" class="danger">Clear table</button>
  <button id="undo" type="button" hidden>Undo clear</button>
</div>
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
  <code>iperf3 -c <span id="host-hint">this-host</span> -p 5201 --extra-data "Room 101"</code></p>
