// yerp reports and imports: progressive enhancements only.
(function () {
  'use strict';

  // An import job's page polls the job every 500 ms while it runs and shows
  // its counts and errors; when the job ends the page is reloaded, so the
  // final state is the server's page.
  function poll(section) {
    var url = section.dataset.poll;
    var set = function (id, v) {
      var el = document.getElementById(id);
      if (el) { el.textContent = String(v); }
    };
    function errors(list) {
      var tbody = document.querySelector('#import-errors tbody');
      if (!tbody) { return; }
      var labels = Array.prototype.map.call(document.querySelectorAll('#import-errors thead th'), function (th) { return th.textContent; });
      tbody.textContent = '';
      list.forEach(function (e) {
        var tr = document.createElement('tr');
        [e.row, e.column, e.message].forEach(function (text, i) {
          var td = document.createElement('td');
          td.textContent = text;
          td.setAttribute('data-label', labels[i] || '');
          if (i === 0) { td.className = 'num'; }
          tr.appendChild(td);
        });
        tbody.appendChild(tr);
      });
      set('import-error-count', list.length);
      var none = document.getElementById('import-no-errors');
      if (none) { none.hidden = list.length > 0; }
    }
    function tick() {
      fetch(url, { credentials: 'same-origin', cache: 'no-store' })
        .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
        .then(function (j) {
          var bar = document.getElementById('import-progress');
          if (bar) {
            bar.max = Math.max(j.total, 1);
            bar.value = j.processed;
          }
          ['processed', 'total', 'rows', 'created', 'updated', 'unchanged'].forEach(function (k) { set('import-' + k, j[k]); });
          set('import-failed', j.failed_records);
          set('import-status', j.status);
          errors(j.errors || []);
          var tr = document.getElementById('import-truncated');
          if (tr) { tr.hidden = !j.truncated; }
          if (j.running) {
            setTimeout(tick, 500);
          } else {
            window.location.reload();
          }
        })
        .catch(function () { setTimeout(tick, 2000); });
    }
    setTimeout(tick, 500);
  }

  document.addEventListener('DOMContentLoaded', function () {
    var job = document.querySelector('[data-poll]');
    if (job) { poll(job); }
  });
})();
