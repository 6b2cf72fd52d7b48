% rebase("base.tpl", title="Map", script="map")
<div class="places-bar">
  <form id="map-form" class="places-form" autocomplete="off">
    <label>Plan <select id="map-plan-menu" name="plan"></select></label>
    <label>Survey <select id="map-survey" name="survey"><option value="">current</option><option value="all">all surveys</option></select></label>
    <label>Figure <select id="map-figure" name="figure"></select></label>
    <label>Compare with <select id="map-compare" name="compare"><option value="">— nothing —</option></select></label>
    <label id="map-tolerance-label">Unchanged within ± <input id="map-tolerance" name="tolerance" type="number" min="0" step="any" inputmode="decimal" size="4"> %</label>
  </form>
  <div class="actions">
    <button id="map-png" type="button" class="button">Download PNG</button>
    <a id="map-report" class="button" href="report">Printable report</a>
  </div>
</div>
<p id="map-empty" class="empty" hidden>No floor plan yet: add one below (a photo of the evacuation plan by the lift will do).</p>
<div id="map-stage" class="map-stage" hidden>
  <img id="map-image" alt="" draggable="false">
  <canvas id="map-heat" class="map-heat" width="1" height="1"></canvas>
  <div id="map-dots" class="map-dots"></div>
</div>
<div id="map-info" class="map-info" role="status" hidden></div>
<p id="map-legend" class="legend map-legend"></p>
<div id="map-unplaced-wrap" class="map-unplaced" hidden>
  <p>Places on no plan yet: drag one onto the plan.</p>
  <div id="map-unplaced"></div>
</div>
<details class="map-add" id="map-manage" hidden>
  <summary>This plan: rename, replace, scale, remove</summary>
  <form id="map-rename" class="places-form">
    <label>Name <input id="map-rename-name" name="name" maxlength="200" required></label>
    <button type="submit" class="button">Rename</button>
  </form>
  <form id="map-replace" class="places-form">
    <label>New picture of the same floor <input id="map-replace-file" type="file" accept="image/png,image/jpeg,image/webp" required></label>
    <button type="submit" class="button">Replace</button>
    <span class="muted">the places stay where they are on it</span>
  </form>
  <p class="places-form">
    <button type="button" id="map-scale" class="button">Set the scale</button>
    <span id="map-scale-note" class="muted">tap two points of the plan and type the distance between them: positions are then in metres too</span>
  </p>
  <p class="places-form"><button type="button" id="map-remove" class="button">Remove this plan</button>
    <span class="muted">its places keep their tests; only where they were on it is lost</span></p>
</details>
<details class="map-add">
  <summary>Add a floor plan</summary>
  <form id="map-upload" class="places-form">
    <label>Name <input id="map-plan-name" name="name" maxlength="200" placeholder="Ground floor"></label>
    <label>Picture <input id="map-file" name="file" type="file" accept="image/png,image/jpeg,image/webp" required></label>
    <button type="submit" class="button">Upload</button>
    <span class="muted">PNG, JPEG or WebP, at most 20 MB and 50 megapixels</span>
  </form>
</details>
