(function () {
  "use strict";
  var input = document.getElementById("filter");
  var counter = document.getElementById("filter-count");
  if (!input) { return; }
  function apply() {
    var needle = input.value.trim().toLowerCase();
    var shown = 0;
    document.querySelectorAll("details.host").forEach(function (box) {
      var hits = 0;
      box.querySelectorAll("table.pkgs tbody tr").forEach(function (row) {
        var match = !needle || row.textContent.toLowerCase().indexOf(needle) !== -1;
        row.hidden = !match;
        if (match) { hits += 1; }
      });
      shown += hits;
      if (needle) { box.open = hits > 0; }
    });
    counter.textContent = needle ? shown + " matching installations" : "";
  }
  input.addEventListener("input", apply);
}());
