// yerp browser UI: progressive enhancements only; every page works without it.
(function () {
  'use strict';

  // Table rows: add a row from the table's template (its __i__ becomes the
  // next free index), remove a row.
  function nextIndex(tbody, table) {
    var max = -1;
    tbody.querySelectorAll('[name^="' + table + '."]').forEach(function (el) {
      var m = el.name.slice(table.length + 1).match(/^(\d+)\./);
      if (m) { max = Math.max(max, parseInt(m[1], 10)); }
    });
    return max + 1;
  }
  document.addEventListener('click', function (ev) {
    var add = ev.target.closest('[data-add-row]');
    if (add) {
      var table = add.getAttribute('data-add-row');
      var tpl = document.querySelector('template[data-row-template="' + table + '"]');
      var tbody = document.querySelector('table[data-table="' + table + '"] tbody');
      if (!tpl || !tbody) { return; }
      var i = String(nextIndex(tbody, table));
      var html = tpl.innerHTML.split('__i__').join(i);
      tbody.insertAdjacentHTML('beforeend', html);
      var rows = tbody.querySelectorAll('tr[data-row]');
      var first = rows[rows.length - 1].querySelector('input, select, textarea');
      if (first) { first.focus(); }
      enhanceSelects(rows[rows.length - 1]);
      return;
    }
    var rm = ev.target.closest('[data-remove-row]');
    if (rm) {
      var tr = rm.closest('tr');
      if (tr) { tr.remove(); }
    }
  });

  // Link selects: a search box above the select narrows its options.
  function enhanceSelects(root) {
    root.querySelectorAll('select[data-searchable]').forEach(function (sel) {
      if (sel.dataset.enhanced || (sel.options.length < 12 && !sel.dataset.lookup)) { return; }
      sel.dataset.enhanced = '1';
      var box = document.createElement('input');
      box.type = 'search';
      box.className = 'link-search';
      box.setAttribute('aria-label', (document.documentElement.lang === 'en' ? 'Search: ' : '搜索：') +
        (sel.labels && sel.labels[0] ? sel.labels[0].textContent.trim() : ''));
      box.placeholder = document.documentElement.lang === 'en' ? 'Type to narrow…' : '输入关键字筛选…';
      var timer = null;
      box.addEventListener('input', function () {
        if (sel.dataset.lookup) {
          // More records than options: ask the server after a pause.
          clearTimeout(timer);
          timer = setTimeout(function () { lookup(sel, box.value.trim()); }, 200);
          return;
        }
        var q = box.value.trim().toLowerCase();
        var firstMatch = null;
        Array.prototype.forEach.call(sel.options, function (o) {
          var hit = !q || o.value === '' || o.text.toLowerCase().indexOf(q) >= 0;
          o.hidden = !hit;
          if (hit && o.value !== '' && !firstMatch) { firstMatch = o; }
        });
        if (q && firstMatch && (sel.selectedIndex < 0 || sel.options[sel.selectedIndex].hidden)) {
          sel.value = firstMatch.value;
        }
      });
      sel.parentNode.insertBefore(box, sel);
    });
  }
  // lookup replaces the options of sel with the records matching q, keeping
  // the chosen one.
  function lookup(sel, q) {
    if (!q) { return; }
    fetch(sel.dataset.lookup + '?q=' + encodeURIComponent(q), { credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.json() : { options: [] }; })
      .then(function (data) {
        var keep = sel.value;
        var chosen = sel.selectedIndex >= 0 ? sel.options[sel.selectedIndex] : null;
        while (sel.options.length > 1) { sel.remove(1); }
        if (chosen && keep) { sel.add(new Option(chosen.text, keep, true, true)); }
        data.options.forEach(function (o) {
          if (o.id !== keep) { sel.add(new Option(o.title, o.id)); }
        });
        if (!keep && data.options.length) { sel.value = data.options[0].id; }
      })
      .catch(function () {});
  }

  // A form on its way to the server (a save, a transition, an import, a
  // stocktake submission) says so on the button that sent it, and a second
  // click does not send it again. Forms a script handles itself (they
  // prevent the default) and GET forms (filters, search) are left alone.
  document.addEventListener('submit', function (ev) {
    var form = ev.target;
    if (ev.defaultPrevented || (form.getAttribute('method') || 'get').toLowerCase() !== 'post') { return; }
    if (form.dataset.busy) { ev.preventDefault(); return; }
    form.dataset.busy = '1';
    form.setAttribute('aria-busy', 'true');
    var b = ev.submitter;
    if (b && b.tagName === 'BUTTON') {
      b.dataset.label = b.textContent;
      b.textContent = document.documentElement.lang === 'en' ? 'Working…' : '处理中…';
    }
  });
  // Back to a page kept by the browser: its forms are idle again.
  window.addEventListener('pageshow', function () {
    document.querySelectorAll('form[data-busy]').forEach(function (form) {
      delete form.dataset.busy;
      form.removeAttribute('aria-busy');
      form.querySelectorAll('button[data-label]').forEach(function (b) {
        b.textContent = b.dataset.label;
        delete b.dataset.label;
      });
    });
  });

  document.addEventListener('DOMContentLoaded', function () {
    enhanceSelects(document);
    var err = document.querySelector('[aria-invalid="true"]');
    if (err) { err.focus(); }
  });
})();
