// yerp template editor: a textarea over a highlighted copy of its text,
// with line numbers, the checker's report at its lines and a live preview.
// The server checks the whole candidate package on every change (after a
// pause); nothing is published until the admin confirms the plan.
(function () {
  'use strict';

  var dataEl = document.getElementById('editor-data');
  if (!dataEl) { return; }
  var cfg = JSON.parse(dataEl.textContent);
  var original = cfg.files;
  var files = Object.assign({}, original);
  var current = cfg.current;
  var storeKey = 'yerp-editor:' + cfg.package;

  // Unpublished changes survive a reload or a look at the plan, as long as
  // nobody published meanwhile.
  try {
    var saved = JSON.parse(sessionStorage.getItem(storeKey) || 'null');
    if (saved && saved.base === cfg.base && saved.files) {
      Object.keys(saved.files).forEach(function (f) {
        if (Object.prototype.hasOwnProperty.call(files, f)) { files[f] = saved.files[f]; }
      });
    } else {
      sessionStorage.removeItem(storeKey);
    }
  } catch (e) { /* storage unavailable: edits live in the page only */ }

  var form = document.getElementById('editor-form');
  var ed = document.getElementById('ed');
  var ta = document.getElementById('ed-text');
  var hl = document.getElementById('ed-hl');
  var gutter = document.getElementById('ed-gutter');
  var status = document.getElementById('ed-status');
  var problems = document.getElementById('problems');
  var preview = document.getElementById('preview');
  var previewNote = document.getElementById('preview-note');
  var role = document.getElementById('preview-role');
  var fileInput = document.getElementById('ed-file');
  var filesInput = document.getElementById('ed-files-json');
  var label = document.getElementById('ed-label');
  var discard = document.getElementById('discard');
  var diagnostics = cfg.diagnostics || [];
  var entity = preview ? preview.getAttribute('data-entity') : '';

  ed.classList.add('js');
  ta.value = files[current];

  // --- Highlighting -----------------------------------------------------

  function esc(s) {
    return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  }
  function span(cls, s) { return '<span class="t-' + cls + '">' + esc(s) + '</span>'; }

  // value highlights the part of a YAML line after its key: flow
  // collections, quoted strings, numbers, booleans, comments.
  function value(s) {
    var out = '';
    var i = 0;
    var m;
    while (i < s.length) {
      var ch = s[i];
      var rest = s.slice(i);
      if (ch === '#' && (i === 0 || /\s/.test(s[i - 1]))) { out += span('c', rest); break; }
      if (ch === '"') {
        m = rest.match(/^"(?:[^"\\]|\\.)*"?/);
        out += span('s', m[0]); i += m[0].length; continue;
      }
      if (ch === "'") {
        m = rest.match(/^'(?:[^']|'')*'?/);
        out += span('s', m[0]); i += m[0].length; continue;
      }
      if ('{}[],'.indexOf(ch) >= 0 || (ch === '-' && /^-\s/.test(rest) && s.slice(0, i).trim() === '')) {
        out += span('p', ch); i++; continue;
      }
      m = rest.match(/^([A-Za-z_][\w.-]*)(\s*:)(?=\s|$|[,}\]])/);
      if (m) { out += span('k', m[1]) + span('p', m[2]); i += m[0].length; continue; }
      m = rest.match(/^[^\s{}[\],#"']+/);
      if (m) {
        var w = m[0];
        if (/^-?\d+(\.\d+)?$/.test(w)) { out += span('n', w); }
        else if (/^(true|false|null|~)$/.test(w)) { out += span('b', w); }
        else if (w === '|' || w === '>' || w === '|-' || w === '>-') { out += span('p', w); }
        else { out += esc(w); }
        i += w.length; continue;
      }
      out += esc(ch); i++;
    }
    return out;
  }

  function highlightLine(line, yaml) {
    if (!yaml) { return esc(line); }
    var m = line.match(/^(\s*)((?:-\s+)*)([A-Za-z_][\w.-]*|"[^"]*"|'[^']*')(\s*:)(?=\s|$)(.*)$/);
    if (m) {
      return esc(m[1]) + (m[2] ? span('p', m[2]) : '') + span('k', m[3]) + span('p', m[4]) + value(m[5]);
    }
    return value(line);
  }

  // render redraws the highlighted copy and the line numbers, with the
  // diagnostics of the current file at their lines.
  function render() {
    var yaml = /\.ya?ml$/.test(current);
    var lines = ta.value.split('\n');
    var marks = {};
    diagnostics.forEach(function (d) {
      if (d.File !== current) { return; }
      var cur = marks[d.Line];
      if (!cur || d.Severity === 'error') { marks[d.Line] = { sev: d.Severity, msg: (cur && cur.sev === d.Severity ? cur.msg + '\n' : '') + d.Message }; }
    });
    var html = [];
    var gut = document.createDocumentFragment();
    lines.forEach(function (line, i) {
      var n = i + 1;
      var mk = marks[n];
      html.push('<span class="ln' + (mk ? ' ln-' + mk.sev : '') + '">' + highlightLine(line, yaml) + '</span>');
      var g = document.createElement('span');
      g.textContent = String(n);
      g.setAttribute('data-line', String(n));
      if (mk) { g.className = 'g-' + mk.sev; g.title = mk.msg; }
      gut.appendChild(g);
    });
    hl.innerHTML = html.join('\n') + '\n';
    gutter.textContent = '';
    gutter.appendChild(gut);
    sync();
    markChanged();
  }

  function sync() {
    hl.scrollTop = ta.scrollTop;
    hl.scrollLeft = ta.scrollLeft;
    gutter.scrollTop = ta.scrollTop;
  }
  ta.addEventListener('scroll', sync);

  // --- Files ----------------------------------------------------------------

  function markChanged() {
    var any = false;
    document.querySelectorAll('a[data-file]').forEach(function (a) {
      var f = a.getAttribute('data-file');
      var changed = files[f] !== original[f];
      any = any || changed;
      a.classList.toggle('changed', changed);
      a.title = changed ? cfg.texts.changed : '';
    });
    if (discard) { discard.hidden = !any; }
    try {
      if (any) { sessionStorage.setItem(storeKey, JSON.stringify({ base: cfg.base, files: changedFiles() })); }
      else { sessionStorage.removeItem(storeKey); }
    } catch (e) { /* ignore */ }
  }

  function changedFiles() {
    var out = {};
    Object.keys(files).forEach(function (f) { if (files[f] !== original[f]) { out[f] = files[f]; } });
    return out;
  }

  function switchFile(f) {
    if (!Object.prototype.hasOwnProperty.call(files, f) || f === current) { return; }
    files[current] = ta.value;
    current = f;
    ta.value = files[f];
    fileInput.value = f;
    label.textContent = f;
    document.querySelectorAll('a[data-file]').forEach(function (a) {
      if (a.getAttribute('data-file') === f) { a.setAttribute('aria-current', 'page'); }
      else { a.removeAttribute('aria-current'); }
    });
    try { history.replaceState(null, '', '?file=' + encodeURIComponent(f)); } catch (e) { /* ignore */ }
    ta.scrollTop = 0;
    ta.scrollLeft = 0;
    render();
    check();
  }

  document.querySelectorAll('a[data-file]').forEach(function (a) {
    a.addEventListener('click', function (ev) {
      ev.preventDefault();
      switchFile(a.getAttribute('data-file'));
      ta.focus();
    });
  });

  // goTo puts the cursor at line:col of file.
  function goTo(file, line, col) {
    if (file !== current) { switchFile(file); }
    var lines = ta.value.split('\n');
    var off = 0;
    for (var i = 0; i < Math.min(line - 1, lines.length); i++) { off += lines[i].length + 1; }
    off += Math.max(0, Math.min(col - 1, (lines[line - 1] || '').length));
    ta.focus();
    ta.setSelectionRange(off, off);
    var lh = parseFloat(getComputedStyle(ta).lineHeight) || 20;
    ta.scrollTop = Math.max(0, (line - 4) * lh);
    sync();
  }

  // --- Editing --------------------------------------------------------------

  var escaped = false;
  ta.addEventListener('keydown', function (ev) {
    if (ev.key === 'Escape') { escaped = true; return; }
    if (ev.key === 'Tab' && !ev.shiftKey && !ev.ctrlKey && !ev.altKey && !ev.metaKey && !escaped) {
      ev.preventDefault();
      if (!document.execCommand || !document.execCommand('insertText', false, '  ')) {
        ta.setRangeText('  ', ta.selectionStart, ta.selectionEnd, 'end');
        ta.dispatchEvent(new Event('input'));
      }
      return;
    }
    if (ev.key !== 'Tab') { escaped = false; }
  });

  var timer = null;
  ta.addEventListener('input', function () {
    files[current] = ta.value;
    render();
    clearTimeout(timer);
    timer = setTimeout(check, 400);
  });

  // --- Checking ---------------------------------------------------------------

  var seq = 0;
  function check() {
    clearTimeout(timer);
    files[current] = ta.value;
    var my = ++seq;
    status.textContent = cfg.texts.checking;
    status.className = 'checking';
    var body = new URLSearchParams();
    body.set('_csrf', cfg.csrf);
    body.set('files', JSON.stringify(files));
    body.set('file', current);
    body.set('entity', entity || '');
    body.set('role', role ? role.value : '');
    fetch(cfg.check, { method: 'POST', body: body, credentials: 'same-origin' })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (res) { if (my === seq) { show(res); } })
      .catch(function () {
        if (my !== seq) { return; }
        status.textContent = cfg.texts.failed;
        status.className = 'has-errors';
      });
  }

  function show(res) {
    diagnostics = res.diagnostics || [];
    status.textContent = res.summary;
    status.className = res.errors > 0 ? 'has-errors' : 'ok';
    problems.textContent = '';
    diagnostics.forEach(function (d) {
      var li = document.createElement('li');
      li.className = d.Severity;
      var b = document.createElement('button');
      b.type = 'button';
      b.className = 'link diag';
      b.setAttribute('data-file', d.File);
      b.setAttribute('data-line', String(d.Line));
      b.setAttribute('data-col', String(d.Col));
      if (!Object.prototype.hasOwnProperty.call(files, d.File)) { b.disabled = true; }
      var sev = document.createElement('span');
      sev.className = 'sev';
      sev.textContent = d.SevLabel;
      var at = document.createElement('code');
      at.textContent = d.File + ':' + d.Line + ':' + d.Col;
      b.appendChild(sev);
      b.appendChild(document.createTextNode(' '));
      b.appendChild(at);
      b.appendChild(document.createTextNode(' ' + d.Message));
      if (d.Hint) {
        var h = document.createElement('span');
        h.className = 'muted';
        h.textContent = ' (' + d.Hint + ')';
        b.appendChild(h);
      }
      li.appendChild(b);
      problems.appendChild(li);
    });
    if (res.preview) {
      preview.innerHTML = res.preview;
      entity = res.entity;
      preview.setAttribute('data-entity', entity);
      preview.classList.remove('stale');
    } else if (res.errors > 0) {
      preview.classList.add('stale');
    } else {
      preview.textContent = '';
    }
    previewNote.textContent = res.note || '';
    render();
  }

  problems.addEventListener('click', function (ev) {
    var b = ev.target.closest('button.diag');
    if (!b || b.disabled) { return; }
    goTo(b.getAttribute('data-file'), parseInt(b.getAttribute('data-line'), 10) || 1, parseInt(b.getAttribute('data-col'), 10) || 1);
  });

  if (role) { role.addEventListener('change', check); }

  // The preview is to look at: it sends nothing.
  if (preview) {
    preview.addEventListener('submit', function (ev) { ev.preventDefault(); }, true);
    preview.addEventListener('click', function (ev) {
      var a = ev.target.closest('a');
      if (a) { ev.preventDefault(); }
    }, true);
  }

  // --- Publish and discard ------------------------------------------------------

  form.addEventListener('submit', function () {
    files[current] = ta.value;
    filesInput.value = JSON.stringify(files);
    fileInput.value = current;
  });

  if (discard) {
    discard.addEventListener('click', function () {
      if (!window.confirm(cfg.texts.discard)) { return; }
      files = Object.assign({}, original);
      ta.value = files[current];
      try { sessionStorage.removeItem(storeKey); } catch (e) { /* ignore */ }
      render();
      check();
    });
  }

  render();
  // Restored drafts differ from what the server checked: check them.
  if (Object.keys(changedFiles()).length > 0) { check(); }
})();
