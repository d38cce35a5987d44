// yerp phone screens: scan with the camera (BarcodeDetector), a keyboard-wedge
// scanner or typing; every scan is kept in a queue in localStorage and sent
// with POST /api/v1/batch (cookie session + X-CSRF-Token), one idempotency key
// per operation, so a replay after a lost answer writes nothing twice. An item
// leaves the queue only when the server has answered it.
(() => {
  'use strict';
  const dataEl = document.getElementById('ph-data');
  if (!dataEl) { return; }
  const M = JSON.parse(dataEl.textContent);
  const T = (k, p) => (M.texts[k] || k).replace(/\{(\w+)\}/g, (_, n) => (p && n in p ? String(p[n]) : ''));
  const $ = (id) => document.getElementById(id);
  const QKEY = 'yerp.phone.queue.' + M.user;

  // ---- exact decimals (quantities travel as text) ----
  const scaleOf = (s) => { const i = String(s).indexOf('.'); return i < 0 ? 0 : String(s).length - i - 1; };
  function toBig(s, scale) {
    let [i, f = ''] = String(s || '0').split('.');
    const neg = i.startsWith('-'); if (neg) { i = i.slice(1); }
    const v = BigInt((i || '0') + f.padEnd(scale, '0'));
    return neg ? -v : v;
  }
  function fromBig(v, scale) {
    const neg = v < 0n; let s = (neg ? -v : v).toString().padStart(scale + 1, '0');
    if (scale > 0) { s = s.slice(0, -scale) + '.' + s.slice(-scale); s = s.replace(/\.?0+$/, ''); }
    return (neg ? '-' : '') + s;
  }
  function add(a, b) { const sc = Math.max(scaleOf(a), scaleOf(b)); return fromBig(toBig(a, sc) + toBig(b, sc), sc); }
  function cmp(a, b) { const sc = Math.max(scaleOf(a), scaleOf(b)); const x = toBig(a, sc), y = toBig(b, sc); return x < y ? -1 : x > y ? 1 : 0; }

  // ---- the queue ----
  function load() { try { return JSON.parse(localStorage.getItem(QKEY)) || []; } catch (e) { return []; } }
  let queue = load();
  function save() { localStorage.setItem(QKEY, JSON.stringify(queue)); }
  function newKey() {
    const b = new Uint8Array(16); crypto.getRandomValues(b);
    return 'phone:' + M.user + ':' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }
  const waiting = () => queue.reduce((n, e) => n + (e.scans || 0) + (e.inflight ? e.inflight.scans : 0), 0);

  let syncing = false, timer = null, backoff = 0, lastError = '';
  function renderSync() {
    const el = $('ph-sync'); if (!el) { return; }
    const n = waiting();
    let text = n > 0 ? T('waiting', { n }) : T('synced');
    if (n > 0 && syncing) { text += ' · ' + T('syncing'); }
    if (!navigator.onLine) { text += ' · ' + T('offline'); }
    el.textContent = text;
    el.className = 'ph-sync ' + (n > 0 ? 'waiting' : 'synced') + (navigator.onLine ? '' : ' offline');
    el.dataset.waiting = String(n);
    document.querySelectorAll('[data-submit]').forEach((b) => { b.disabled = docPending(); });
    const hint = $('ph-submit-hint'); if (hint) { hint.hidden = !docPending(); }
  }
  function schedule(ms) {
    clearTimeout(timer);
    if (queue.length === 0) { return; }
    timer = setTimeout(sync, ms === undefined ? (backoff || 3000) : ms);
  }

  // Operations to send: check units are frozen when scanned; a document's
  // scans are frozen into one update when first sent, and stay as sent
  // (same key, same content) until the server answers.
  function outgoing() {
    const ops = [];
    for (const e of queue) {
      if (e.kind === 'check') { ops.push(...e.ops); continue; }
      if (!e.inflight && e.scans > 0) {
        e.inflight = { key: newKey(), op: null, delta: e.delta, added: e.added, times: e.times, scans: e.scans };
        e.inflight.op = lineOp(e, e.inflight);
        e.delta = {}; e.added = {}; e.times = {}; e.scans = 0;
      }
      if (e.inflight) { ops.push(e.inflight.op); }
    }
    save();
    return ops.slice(0, 200);
  }

  function problemText(p) {
    if (!p) { return ''; }
    const parts = (p.errors || []).map((f) => f.message).filter(Boolean);
    return parts.length ? parts.join('；') : (p.detail || p.title || String(p.status));
  }

  async function sync() {
    if (syncing) { return; }
    if (!navigator.onLine) { renderSync(); schedule(); return; }
    const ops = outgoing();
    if (ops.length === 0) { renderSync(); return; }
    // Once sent, a check can no longer be undone: the server may have it.
    for (const e of queue) { if (e.kind === 'check') { e.tried = true; } }
    save();
    syncing = true; renderSync();
    let again = false;
    try {
      const res = await fetch('/api/v1/batch', {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': M.csrf, 'Accept-Language': M.lang },
        body: JSON.stringify({ operations: ops }),
      });
      if (res.status === 401 || res.status === 403) { lastError = T('signin'); throw new Error('auth'); }
      if (!res.ok) { throw new Error('status ' + res.status); }
      const ans = await res.json();
      again = await settle(ans.results || []);
      backoff = 0; lastError = '';
    } catch (err) {
      backoff = Math.min(backoff ? backoff * 2 : 2000, 60000);
    } finally {
      syncing = false; save(); renderSync(); render();
      schedule(again ? 0 : undefined);
    }
  }

  // settle applies the server's answers to the queue; it returns whether
  // something should be sent again at once.
  async function settle(results) {
    const byKey = new Map(results.map((r) => [r.key, r]));
    let again = false;
    for (const e of [...queue]) {
      if (e.kind === 'check') {
        const rs = e.ops.map((o) => byKey.get(o.key));
        if (rs.some((r) => !r)) { continue; }
        const bad = rs.find((r) => r.status >= 300);
        if (!bad) { drop(e); checkDone(e.id, rs[rs.length - 1].record); continue; }
        if (isBusy(bad)) { continue; }
        if (bad.status === 409 && !e.rebased) {
          // Changed elsewhere since the page was read: read it again and
          // send the same scan on the new version, with new keys.
          const rec = await fetchRecord(e.entity, e.id);
          if (rec) { e.ops = checkOps(e.entity, rec.id, rec.version, e.values, e.transition); e.rebased = true; again = true; continue; }
        }
        drop(e); checkRefused(e.id, problemText(bad.problem));
        continue;
      }
      if (!e.inflight) { continue; }
      const r = byKey.get(e.inflight.key);
      if (!r) { continue; }
      if (r.status < 300) {
        e.version = r.record.version; e.rows = r.record[e.table] || [];
        e.inflight = null;
        if (e.scans === 0) { drop(e); } else { again = true; }
        if (D && D.id === e.id) { D.version = e.version; D.rows = e.rows; setVersion(e.version); }
        continue;
      }
      if (isBusy(r)) { continue; }
      if (r.status === 409) {
        const rec = await fetchRecord(e.entity, e.id);
        if (rec) {
          // Rebase: the unsent and refused scans go on the record as it is now.
          e.version = rec.version; e.rows = rec[e.table] || [];
          merge(e, e.inflight); e.inflight = null; again = true;
          if (D && D.id === e.id) { D.version = e.version; D.rows = e.rows; setVersion(e.version); }
          continue;
        }
      }
      feedback('err', T('refused', { msg: problemText(r.problem) }));
      e.inflight = null;
      if (e.scans === 0) { drop(e); }
    }
    return again;
  }
  const isBusy = (r) => r.status === 409 && r.problem && (r.problem.errors || []).some((f) => f.code === 'key_in_progress');
  function drop(e) { queue = queue.filter((x) => x !== e); }
  function merge(e, from) {
    for (const [k, v] of Object.entries(from.delta)) { e.delta[k] = add(e.delta[k] || '0', v); }
    Object.assign(e.added, from.added); Object.assign(e.times, from.times);
    e.scans += from.scans;
  }
  async function fetchRecord(entity, id) {
    try {
      const res = await fetch('/api/v1/records/' + entity + '/' + encodeURIComponent(id), { credentials: 'same-origin', headers: { 'Accept-Language': M.lang } });
      return res.ok ? await res.json() : null;
    } catch (e) { return null; }
  }

  window.addEventListener('online', () => { backoff = 0; sync(); });
  window.addEventListener('offline', renderSync);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) { sync(); } });

  // ---- feedback: text, colour, vibration and a short tone ----
  let audio = null;
  function beep(ok) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const o = audio.createOscillator(), g = audio.createGain();
      o.frequency.value = ok ? 1320 : 220; g.gain.value = 0.08;
      o.connect(g); g.connect(audio.destination); o.start(); o.stop(audio.currentTime + (ok ? 0.08 : 0.3));
    } catch (e) { /* no sound */ }
  }
  function feedback(kind, text) {
    const el = $('ph-feedback'); if (!el) { return; }
    el.hidden = false; el.className = 'ph-feedback ' + kind; el.textContent = text;
    if (navigator.vibrate) { navigator.vibrate(kind === 'ok' ? 40 : [90, 60, 90]); }
    beep(kind === 'ok');
  }

  // ---- line documents ----
  const D = M.doc || null;
  function entry(create) {
    let e = queue.find((x) => x.kind === 'lines' && x.entity === D.entity && x.id === D.id);
    if (!e && create) {
      e = { kind: 'lines', entity: D.entity, id: D.id, table: D.table, version: D.version, rows: D.rows, delta: {}, added: {}, times: {}, scans: 0, inflight: null,
        spec: { itemCol: D.itemCol, countCol: D.countCol, scanCol: D.scanCol, send: D.send } };
      queue.push(e);
    }
    return e;
  }
  function docPending() { return !!(D && entry(false)); }
  function setVersion(v) { document.querySelectorAll('[data-version]').forEach((i) => { i.value = String(v); }); }

  // lineOp is the update that puts the scans of part on the rows of e.
  function lineOp(e, part) {
    const s = e.spec;
    const rows = (e.rows || []).map((r) => {
      const out = {}; for (const c of s.send) { if (c in r) { out[c] = r[c]; } }
      out._row = r._row;
      const d = part.delta[r[s.itemCol]];
      if (d !== undefined) {
        out[s.countCol] = add(r[s.countCol] || '0', d);
        if (part.added[r[s.itemCol]]) { out[s.scanCol] = part.added[r[s.itemCol]]; }
        for (const [c, v] of Object.entries(part.times[r[s.itemCol]] || {})) { out[c] = v; }
      }
      return out;
    });
    for (const [item, d] of Object.entries(part.delta)) {
      if ((e.rows || []).some((r) => r[s.itemCol] === item)) { continue; }
      const row = { [s.itemCol]: item, [s.countCol]: d };
      if (part.added[item]) { row[s.scanCol] = part.added[item]; }
      Object.assign(row, part.times[item] || {});
      rows.push(row);
    }
    return { key: part.key, op: 'update', entity: e.entity, id: e.id, version: e.version, values: { [e.table]: rows } };
  }

  // view is the document as the user sees it: the rows read, with every
  // scan not yet confirmed added.
  function view() {
    const e = entry(false);
    const base = e && e.version >= D.version ? e.rows : D.rows;
    const lines = base.map((r) => ({ item: r[D.itemCol], count: r[D.countCol] || '0', expected: D.expectedCol ? r[D.expectedCol] : null }));
    if (e) {
      for (const part of [e.inflight, e].filter(Boolean)) {
        for (const [item, d] of Object.entries(part.delta)) {
          let l = lines.find((x) => x.item === item);
          if (!l) { l = { item, count: '0', expected: null, added: true }; lines.push(l); }
          l.count = add(l.count, d);
        }
      }
    }
    return lines;
  }
  const itemTitle = (id) => (D.items[id] ? D.items[id].title : id);

  let lastItem = '', shown = '';
  // same tells whether the list would look as it does already: then it is
  // left alone, so that a sync finishing under the thumb does not replace
  // the button being tapped.
  function same(sig) { if (sig === shown) { return true; } shown = sig; return false; }
  function renderLines() {
    const ul = $('ph-lines'); if (!ul) { return; }
    const lines = view();
    if (same(JSON.stringify([lastItem, lines]))) { return; }
    ul.textContent = '';
    for (const l of lines) {
      const li = document.createElement('li');
      li.className = 'ph-line'; li.dataset.item = l.item;
      if (l.expected != null && cmp(l.count, l.expected) > 0) { li.classList.add('over'); }
      else if (l.expected != null && cmp(l.count, l.expected) === 0) { li.classList.add('full'); }
      if (l.item === lastItem) { li.classList.add('last'); }
      const name = document.createElement('span'); name.className = 'ph-name'; name.textContent = itemTitle(l.item);
      const qty = document.createElement('span'); qty.className = 'ph-qty';
      qty.textContent = l.expected != null ? l.count + ' / ' + l.expected : l.count;
      li.append(name, qty);
      if (D.countCol) {
        const less = document.createElement('button'); less.type = 'button'; less.className = 'ph-step'; less.textContent = '−';
        less.dataset.step = '-1'; less.setAttribute('aria-label', T('less', { item: itemTitle(l.item) }));
        less.disabled = cmp(l.count, '0') <= 0;
        const more = document.createElement('button'); more.type = 'button'; more.className = 'ph-step'; more.textContent = '+';
        more.dataset.step = '1'; more.setAttribute('aria-label', T('more', { item: itemTitle(l.item) }));
        li.append(less, more);
      }
      ul.append(li);
    }
    const last = ul.querySelector('.last'); if (last && last.scrollIntoView) { last.scrollIntoView({ block: 'nearest' }); }
  }

  // count adds step to the line of item (a new line when allowed).
  function count(item, step, code) {
    const l = view().find((x) => x.item === item);
    if (!l && !D.canAdd) { feedback('err', T('not_on_doc', { item: itemTitle(item) })); return; }
    if (!D.countCol) { feedback('err', T('not_on_doc', { item: itemTitle(item) })); return; }
    const now = cmp(add(l ? l.count : '0', step), '0');
    if (now < 0) { return; }
    const e = entry(true);
    e.delta[item] = add(e.delta[item] || '0', step);
    if (code) { e.added[item] = code; }
    if (D.timeCols && D.timeCols.length) { e.times[item] = Object.fromEntries(D.timeCols.map((c) => [c, new Date().toISOString()])); }
    e.scans += 1;
    save();
    lastItem = item;
    const after = view().find((x) => x.item === item);
    const p = { item: itemTitle(item), n: after.count, e: after.expected };
    if (!l) { feedback('ok', T('added', p)); }
    else if (after.expected != null && cmp(after.count, after.expected) > 0) { feedback('warn', T('over', p)); }
    else { feedback('ok', T(after.expected != null ? 'counted_exp' : 'counted', p)); }
    render(); sync();
  }

  async function lookup(url, code) {
    if (!navigator.onLine) { return null; }
    try {
      const res = await fetch(url + '?code=' + encodeURIComponent(code), { credentials: 'same-origin' });
      return res.ok ? await res.json() : null;
    } catch (e) { return null; }
  }
  function findItem(code) {
    for (const [id, it] of Object.entries(D.items)) { if (it.barcode === code) { return id; } }
    for (const [id, it] of Object.entries(D.items)) { if (it.code === code) { return id; } }
    return '';
  }
  async function scanLine(code) {
    let id = findItem(code);
    if (!id) {
      const hit = await lookup(D.lookup, code);
      if (hit && hit.id) { D.items[hit.id] = { title: hit.title || hit.id, barcode: hit.barcode, code: hit.code }; id = hit.id; }
    }
    if (!id) { feedback('err', T('unknown', { code })); return; }
    // The barcode column records the item's own barcode (the template
    // checks it); an item found by its code leaves the column as it is.
    count(id, '1', D.items[id].barcode || '');
  }

  // ---- check lists ----
  const C = M.checks || null;
  function checkOps(entity, id, version, values, transition) {
    const ops = [];
    const up = newKey();
    if (values && Object.keys(values).length) {
      ops.push({ key: up, op: 'update', entity, id, version, values });
    }
    if (transition) {
      ops.push(ops.length ? { key: newKey(), op: 'transition', entity, ref: up, transition } : { key: newKey(), op: 'transition', entity, id, version, transition });
    }
    return ops;
  }
  const refused = {};
  function checkDone(id, rec) {
    const ck = C && C.list.find((x) => x.id === id);
    if (ck) { ck.done = true; if (rec) { ck.version = rec.version; ck.state = rec.state; } }
  }
  function checkRefused(id, msg) {
    refused[id] = msg;
    const ck = C && C.list.find((x) => x.id === id);
    feedback('err', T('refused', { msg: (ck ? ck.title + '：' : '') + msg }));
  }
  function scanCheck(code) {
    const ck = C.list.find((x) => x.barcode && x.barcode === code) || C.list.find((x) => x.code && x.code === code);
    if (!ck) {
      lookup(C.lookup, code).then((hit) => {
        feedback('err', hit && hit.id ? T('not_mine', { who: hit.title }) : T('unknown', { code }));
      });
      return;
    }
    const queued = queue.some((e) => e.kind === 'check' && e.id === ck.id);
    if (ck.done || queued) { feedback('warn', T('already', { who: ck.title })); lastItem = ck.id; render(); return; }
    const values = Object.assign({}, C.values);
    if (ck.barcode === code) { values[C.scanField] = code; } else { delete values[Object.keys(C.values)[0]]; }
    delete refused[ck.id];
    queue.push({ kind: 'check', entity: C.entity, id: ck.id, scans: 1, values, transition: ck.transition,
      ops: checkOps(C.entity, ck.id, ck.version, values, ck.transition) });
    save();
    lastItem = ck.id;
    feedback('ok', T('checked', { who: ck.title }));
    render(); sync();
  }
  function renderChecks() {
    const ul = $('ph-checks'); if (!ul) { return; }
    const list = [...C.list].sort((a, b) => Number(!!a.done) - Number(!!b.done));
    const state = list.map((ck) => { const q = queue.find((e) => e.kind === 'check' && e.id === ck.id); return [ck.id, ck.done, !!q, q && q.tried, refused[ck.id]]; });
    if (same(JSON.stringify([lastItem, state]))) { return; }
    ul.textContent = '';
    for (const ck of list) {
      const q = queue.find((e) => e.kind === 'check' && e.id === ck.id);
      const li = document.createElement('li');
      li.className = 'ph-line ph-check ' + (ck.done ? 'full' : q ? 'queued' : refused[ck.id] ? 'over' : 'todo');
      li.dataset.id = ck.id;
      if (ck.id === lastItem) { li.classList.add('last'); }
      const name = document.createElement('span'); name.className = 'ph-name';
      name.textContent = ck.title;
      if (ck.info) { const i = document.createElement('small'); i.className = 'muted'; i.textContent = ck.info; name.append(document.createElement('br'), i); }
      const st = document.createElement('span'); st.className = 'ph-qty';
      st.textContent = ck.done ? T('done') : q ? T('queued') : refused[ck.id] || T('to_check');
      li.append(name, st);
      if (q && !q.tried) {
        const undo = document.createElement('button'); undo.type = 'button'; undo.className = 'ph-step ph-undo';
        undo.dataset.undo = ck.id; undo.textContent = T('undo');
        li.append(undo);
      }
      ul.append(li);
    }
  }

  function render() { if (D) { renderLines(); } if (C) { renderChecks(); } renderSync(); }

  // ---- input: wedge scanner, typing, camera ----
  const input = $('ph-code');
  const form = $('ph-form');
  function handle(raw) {
    const code = String(raw || '').trim();
    if (!code) { return; }
    if (D) { scanLine(code); } else if (C) { scanCheck(code); }
  }
  if (form && input) {
    form.addEventListener('submit', (ev) => { ev.preventDefault(); const v = input.value; input.value = ''; handle(v); input.focus(); });
    // A wedge scanner types into whatever has the focus: keys typed
    // elsewhere (not in another text field) go to the scan input.
    document.addEventListener('keydown', (ev) => {
      const t = ev.target;
      if (t === input || ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
      if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable)) { return; }
      if (ev.key.length === 1) { ev.preventDefault(); input.focus(); input.value += ev.key; }
      else if (ev.key === 'Enter' && input.value) { ev.preventDefault(); form.requestSubmit(); }
    });
    document.addEventListener('click', (ev) => {
      const step = ev.target.closest('[data-step]');
      if (step && D) { const li = step.closest('[data-item]'); count(li.dataset.item, step.dataset.step, ''); }
      const undo = ev.target.closest('[data-undo]');
      if (undo && C) {
        const e = queue.find((x) => x.kind === 'check' && x.id === undo.dataset.undo && !x.tried);
        if (e) { drop(e); save(); render(); }
      }
      if (!ev.target.closest('a, input, select, textarea, [data-submit], #ph-camera')) { input.focus({ preventScroll: true }); }
    });
  }
  const cam = $('ph-camera'), video = $('ph-video');
  if (cam && video && 'BarcodeDetector' in window && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    cam.hidden = false;
    const label = cam.textContent;
    let stream = null, loop = null, seen = '', seenAt = 0;
    const stop = () => {
      clearInterval(loop); loop = null;
      if (stream) { stream.getTracks().forEach((t) => t.stop()); stream = null; }
      video.hidden = true; cam.textContent = label; input.focus();
    };
    cam.addEventListener('click', async () => {
      if (stream) { stop(); return; }
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
        video.srcObject = stream; video.hidden = false; await video.play();
        cam.textContent = T('camera_off');
        const detector = new window.BarcodeDetector();
        loop = setInterval(async () => {
          if (!stream || video.readyState < 2) { return; }
          try {
            const codes = await detector.detect(video);
            const code = codes.length ? codes[0].rawValue : '';
            if (code && (code !== seen || Date.now() - seenAt > 2000)) { seen = code; seenAt = Date.now(); handle(code); }
          } catch (e) { /* the next frame */ }
        }, 250);
      } catch (e) { stop(); feedback('err', T('camera_fail')); }
    });
  }

  render();
  if (input) { input.focus(); }
  sync();
  // The periodic retry, besides the online event and the backoff timer.
  setInterval(() => { if (queue.length && !syncing) { sync(); } }, 15000);
})();
