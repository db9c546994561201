// The Code panel's behaviour (code.py writes its HTML): a click on a site
// highlights that site's holds and waits on the timeline, and the
// timeline's tooltips name the code of the interval under the pointer.
// Uses the hooks report.js offers: window.gilscopeReport (its lanes, data
// and draw), window.gilscopeOverlay (drawn over the lanes) and
// window.gilscopeCodeOf (lines added to a tooltip).
(function () {
  if (typeof document === 'undefined' || !window.gilscopeReport) return;
  const R = window.gilscopeReport, code = R.data.code;
  const root = document.getElementById('timeline');
  const pick = document.getElementById('code-pick');
  if (!code) return;
  const labels = code.labels;
  const byLane = {};
  (code.lanes || []).forEach(function (d) { byLane[d.gil + ':' + d.tid] = d; });
  // Index of t in the sorted array a, -1 if absent.
  function find(a, t) {
    let lo = 0, hi = a.length;
    while (lo < hi) { const m = (lo + hi) >> 1; if (a[m] < t) lo = m + 1; else hi = m; }
    return lo < a.length && a[lo] === t ? lo : -1;
  }
  window.gilscopeCodeOf = function (box, line, lane, kind, start) {
    const d = byLane[lane.gil + ':' + lane.tid];
    if (!d) return;
    if (kind === 'hold') {
      const i = find(d.hs, start);
      if (i < 0) return;
      if (d.ha[i]) line(box, 'resumed at ', labels[d.ha[i]]);
      if (d.hb[i]) line(box, 'let go at ', labels[d.hb[i]]);
    } else {
      const i = find(d.ws, start);
      if (i >= 0 && d.wa[i]) line(box, 'asked at ', labels[d.wa[i]]);
    }
  };

  // The selected site's intervals, per lane: {hold: [indexes], wait: [indexes]}.
  let selected = null, marked = null;
  function select(site) {
    selected = site;
    marked = new Map();
    let n = 0;
    R.laneList.forEach(function (lane) {
      const d = byLane[lane.gil + ':' + lane.tid];
      if (!d || site === null) return;
      const h = [], w = [];
      for (let k = 0; k < d.hs.length; k++) {
        if (d.hb[k] === site) { const i = find(lane.hold.s, d.hs[k]); if (i >= 0) h.push(i); }
      }
      for (let k = 0; k < d.ws.length; k++) {
        if (d.wa[k] === site) { const i = find(lane.wait.s, d.ws[k]); if (i >= 0) w.push(i); }
      }
      if (h.length || w.length) { marked.set(lane, { hold: h, wait: w }); n += h.length + w.length; }
    });
    if (root) root.setAttribute('data-code-site', site === null ? '' : String(site));
    if (root) root.setAttribute('data-code-marked', String(n));
    if (pick) pick.textContent = site === null ? '' : ' · highlighted: ' + labels[site] + ' (' + n + ' holds and waits)';
    document.querySelectorAll('#code-sites tr[data-site]').forEach(function (tr) {
      tr.classList.toggle('picked', site !== null && tr.getAttribute('data-site') === String(site));
    });
    R.draw();
  }
  window.gilscopeOverlay = function (g, lanes, start, nsPerPx, W, dpr, barY, barH) {
    if (!marked || !marked.size) return;
    let drawn = 0;
    g.strokeStyle = '#f2b01e';
    g.fillStyle = 'rgba(242,176,30,0.35)';
    g.lineWidth = Math.max(1, 2 * dpr);
    marked.forEach(function (m, lane) {
      const y = (lane.y + barY) * dpr - 2 * dpr, h = barH * dpr + 4 * dpr;
      [[lane.hold, m.hold], [lane.wait, m.wait]].forEach(function (p) {
        const iv = p[0];
        p[1].forEach(function (i) {
          const a = (iv.s[i] - start) / nsPerPx, b = (iv.e[i] - start) / nsPerPx;
          if (b < 0 || a > W) return;
          const w = Math.max(3 * dpr, b - a);
          g.fillRect(a, y, w, h);
          g.strokeRect(a, y, w, h);
          drawn++;
        });
      });
    });
    if (root) root.setAttribute('data-code-drawn', String(drawn));
  };
  document.querySelectorAll('#code-sites tr[data-site]').forEach(function (tr) {
    function go() {
      const site = Number(tr.getAttribute('data-site'));
      select(selected === site ? null : site);
    }
    tr.addEventListener('click', go);
    tr.addEventListener('keydown', function (ev) { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); go(); } });
  });
})();
