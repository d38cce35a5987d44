// yerp live forms: while the user types, the form is posted (encoded as its
// save) to the server's preview route; the server answers the computed
// values and which fields are shown, required and read-only, worked out by
// the records engine with the template's own expressions. Nothing is decided
// here: this script only shows the answer, without touching what the user
// is typing. Also: the unsaved-change warning, moving table rows up and
// down, and uploading attachment files. The save checks everything again.
(function () {
  'use strict';

  var form = document.getElementById('record-form');
  if (!form || !form.dataset.live) { return; }
  var url = form.dataset.live;
  var dirty = form.hasAttribute('data-dirty');
  var leaving = false;
  var timer = null;
  var sent = 0;
  var shown = 0;

  function idOf(name) { return 'f-' + name.replace(/\./g, '-'); }
  function csrf() {
    var el = form.querySelector('input[name="_csrf"]');
    return el ? el.value : '';
  }

  // What the user typed into counts as touched: its problems show live.
  // Fields the last save refused count as touched too.
  form.querySelectorAll('[aria-invalid="true"]').forEach(function (el) { el.dataset.touched = '1'; });

  function changed(ev) {
    var el = ev.target;
    if (!el || !el.name || el.form !== form || el.type === 'hidden') { return; }
    el.dataset.touched = '1';
    dirty = true;
    schedule();
  }
  form.addEventListener('input', changed);
  form.addEventListener('change', changed);

  // data-live-pending is "1" while an answer is due (tests wait for "0").
  function pending() {
    form.dataset.livePending = timer !== null || shown < sent ? '1' : '0';
  }
  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(function () { timer = null; send(); }, 250);
    pending();
  }

  function send() {
    var mine = ++sent;
    pending();
    var body = new URLSearchParams();
    new FormData(form).forEach(function (v, k) {
      if (typeof v === 'string') { body.append(k, v); }
    });
    fetch(url, {
      method: 'POST', credentials: 'same-origin', body: body,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' }
    })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (ans) {
        if (ans && mine > shown) { apply(ans); } // not an older answer than the one shown
        shown = Math.max(shown, mine);
        pending();
      })
      .catch(function () { shown = Math.max(shown, mine); pending(); });
  }

  function apply(ans) {
    Object.keys(ans.fields).forEach(function (name) {
      var st = ans.fields[name];
      var el = document.getElementById(idOf(name));
      if (!el) { return; }
      var cell = /\.\d+\./.test(name);
      var box = cell ? null : el.closest('[data-field]');
      // A computed or read-only value, as the engine formats it.
      if (st.text !== undefined && el.tagName === 'OUTPUT' && el.textContent !== st.text) {
        el.textContent = st.text;
      }
      // What a save fills into an empty input.
      if ((el.tagName === 'INPUT' && (el.type === 'text' || el.type === 'tel' || el.type === 'email')) || el.tagName === 'TEXTAREA') {
        var ph = st.default || '';
        if (el.placeholder !== ph) { el.placeholder = ph; }
      }
      // Shown or not (the value stays and is saved).
      if (cell) {
        if (el.hidden === st.visible) { el.hidden = !st.visible; }
      } else if (box && box.hidden === st.visible) {
        box.hidden = !st.visible;
      }
      // Required: the marker at the label and aria-required.
      if (!cell) {
        var lab = form.querySelector('label[for="' + el.id + '"]') || document.getElementById(el.id + '-label');
        if (lab) {
          var mark = lab.querySelector('.req');
          var want = st.required && !st.readonly;
          if (want && !mark) {
            mark = document.createElement('span');
            mark.className = 'req';
            mark.setAttribute('aria-hidden', 'true');
            mark.textContent = '*';
            lab.appendChild(document.createTextNode(' '));
            lab.appendChild(mark);
          } else if (!want && mark) {
            if (mark.previousSibling && mark.previousSibling.nodeType === 3) { mark.previousSibling.remove(); }
            mark.remove();
          }
        }
      }
      if (/^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName)) {
        if (st.required) { el.setAttribute('aria-required', 'true'); } else { el.removeAttribute('aria-required'); }
        readonly(el, st.readonly);
      }
      showError(el, box, el.dataset.touched ? (st.error || '') : null);
    });
    // Fields no longer in error: their message goes.
    form.querySelectorAll('[data-touched][aria-invalid="true"]').forEach(function (el) {
      var name = el.name || '';
      if (!ans.fields[name] || !ans.fields[name].error) { showError(el, null, ''); }
    });
    // A section whose fields are all hidden goes too.
    form.querySelectorAll('fieldset.section').forEach(function (fs) {
      var fields = fs.querySelectorAll('[data-field]');
      var shownAny = Array.prototype.some.call(fields, function (f) { return !f.hidden; });
      if (fields.length && fs.hidden === shownAny) { fs.hidden = !shownAny; }
    });
    staleNotice(ans.stale);
  }

  function readonly(el, on) {
    if (el.tagName === 'SELECT' || el.type === 'checkbox' || el.type === 'file') {
      el.classList.toggle('live-readonly', on);
      if (on) { el.setAttribute('aria-readonly', 'true'); } else { el.removeAttribute('aria-readonly'); }
      return;
    }
    if (el.readOnly !== on) { el.readOnly = on; }
  }

  // showError shows msg at el ("" removes it; null leaves it as it is).
  function showError(el, box, msg) {
    if (msg === null) { return; }
    var id = el.id + '-err';
    var p = document.getElementById(id);
    if (msg) {
      if (!p) {
        p = document.createElement('p');
        p.className = 'field-error';
        p.id = id;
        var after = el.tagName === 'DIV' ? document.getElementById(el.id + '-label') : el;
        (after || el).insertAdjacentElement('afterend', p);
      }
      if (p.textContent !== msg) { p.textContent = msg; }
      if (el.tagName !== 'DIV') {
        el.setAttribute('aria-invalid', 'true');
        el.setAttribute('aria-describedby', id);
      }
    } else {
      if (p) { p.remove(); }
      el.removeAttribute('aria-invalid');
      el.removeAttribute('aria-describedby');
    }
    if (box) { box.classList.toggle('has-error', !!msg); }
  }

  function staleNotice(stale) {
    var box = document.getElementById('live-stale');
    if (!box) { return; }
    if (!stale) { box.hidden = true; return; }
    box.textContent = '';
    var p = document.createElement('p');
    p.textContent = stale.message;
    box.appendChild(p);
    if (stale.changes && stale.changes.length) {
      var ul = document.createElement('ul');
      stale.changes.forEach(function (c) {
        var li = document.createElement('li');
        li.textContent = c.At + ' ' + c.User + ' ' + c.What + (c.Changes && c.Changes.length ? '：' + c.Changes.join('；') : '');
        ul.appendChild(li);
      });
      box.appendChild(ul);
    }
    var a = document.createElement('a');
    a.className = 'button';
    a.href = form.dataset.reloadUrl;
    a.textContent = form.dataset.reload;
    a.setAttribute('data-discard', '');
    box.appendChild(a);
    box.hidden = false;
  }

  // Rows: move up and down (the order is saved as shown), renumbering the
  // inputs so that the posted order is the order on screen.
  function moveButtons(table) {
    if (!table.dataset.moveUp) { return; }
    table.querySelectorAll('tbody tr[data-row]').forEach(function (tr) {
      var cell = tr.querySelector('.row-actions');
      if (!cell || cell.querySelector('[data-move]')) { return; }
      var rm = cell.querySelector('[data-remove-row]');
      [['up', '↑', table.dataset.moveUp], ['down', '↓', table.dataset.moveDown]].forEach(function (m) {
        var b = document.createElement('button');
        b.type = 'button';
        b.className = 'small move';
        b.dataset.move = m[0];
        b.textContent = m[1];
        b.title = m[2];
        b.setAttribute('aria-label', m[2]);
        cell.insertBefore(b, rm);
      });
    });
  }
  function renumber(table) {
    var t = table.dataset.table;
    var nameRE = new RegExp('^' + t + '\\.\\d+\\.');
    var idRE = new RegExp('^f-' + t + '-\\d+-');
    table.querySelectorAll('tbody tr[data-row]').forEach(function (tr, i) {
      tr.querySelectorAll('[name], [id], label[for], [aria-describedby]').forEach(function (el) {
        if (el.name && nameRE.test(el.name)) { el.name = el.name.replace(nameRE, t + '.' + i + '.'); }
        if (el.id && idRE.test(el.id)) { el.id = el.id.replace(idRE, 'f-' + t + '-' + i + '-'); }
        var f = el.getAttribute('for');
        if (f && idRE.test(f)) { el.setAttribute('for', f.replace(idRE, 'f-' + t + '-' + i + '-')); }
        var d = el.getAttribute('aria-describedby');
        if (d && idRE.test(d)) { el.setAttribute('aria-describedby', d.replace(idRE, 'f-' + t + '-' + i + '-')); }
      });
    });
  }
  document.querySelectorAll('table[data-table]').forEach(function (table) {
    moveButtons(table);
    var tbody = table.querySelector('tbody');
    if (!tbody) { return; }
    new MutationObserver(function () {
      moveButtons(table);
      dirty = true;
      schedule();
    }).observe(tbody, { childList: true });
  });
  form.addEventListener('click', function (ev) {
    var b = ev.target.closest('[data-move]');
    if (!b) { return; }
    var tr = b.closest('tr');
    var table = b.closest('table');
    var other = b.dataset.move === 'up' ? tr.previousElementSibling : tr.nextElementSibling;
    if (!other) { return; }
    if (b.dataset.move === 'up') { tr.parentNode.insertBefore(tr, other); } else { tr.parentNode.insertBefore(other, tr); }
    renumber(table);
    b.focus(); // moving the row took the focus away
  });

  // Attachments: the file goes to the engine at once; the form then holds
  // its id, saved with the record.
  form.addEventListener('change', function (ev) {
    var input = ev.target;
    if (input.type !== 'file' || !input.dataset.upload || !input.files.length) { return; }
    var hidden = document.getElementById(input.id + '-value');
    var status = document.getElementById(input.id + '-file');
    var body = new FormData();
    body.append('_csrf', csrf());
    body.append('file', input.files[0]);
    fetch(input.dataset.upload, { method: 'POST', credentials: 'same-origin', body: body })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, j: j }; }); })
      .then(function (res) {
        if (res.ok) {
          if (hidden) { hidden.value = res.j.id; }
          if (status) { status.textContent = (form.dataset.uploaded || '') + res.j.name; }
          showError(input, input.closest('[data-field]'), '');
        } else {
          input.value = '';
          showError(input, input.closest('[data-field]'), res.j.error || form.dataset.uploadFailed || '');
        }
        dirty = true;
        schedule();
      })
      .catch(function () { showError(input, input.closest('[data-field]'), form.dataset.uploadFailed || ''); });
  });
  // Leaving a form with unsaved changes asks first; saving or cancelling
  // does not.
  form.addEventListener('submit', function () { leaving = true; });
  document.addEventListener('click', function (ev) {
    if (ev.target.closest && ev.target.closest('a[data-discard]')) { leaving = true; }
  });
  window.addEventListener('beforeunload', function (ev) {
    if (!dirty || leaving) { return; }
    ev.preventDefault();
    ev.returnValue = form.dataset.unsaved || '';
    return ev.returnValue;
  });

  send();
})();
