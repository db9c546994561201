/* gilscope report: Beazley's GIL diagram on a canvas, plus the table sorter.
 * Reads the page model from the JSON script element #gilscope-data.
 * Every untrusted string (thread names, command) reaches the page through
 * textContent only. Times are ns relative to the run's first event. */
'use strict';
// Decoding the packed columns (see data.py), and searching sorted arrays.
// Pure functions: tests/report/test_js.py runs them under node.
const gilscopeDecode = (function () {
  function bytes(s) {
    if (!s) return new Uint8Array(0);
    if (Uint8Array.fromBase64) return Uint8Array.fromBase64(s);
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function u16(s) { const b = bytes(s); return new Uint16Array(b.buffer, 0, b.length >> 1); }
  function f32(s) { const b = bytes(s); return new Float32Array(b.buffer, 0, b.length >> 2); }
  function times(s) {
    const b = bytes(s);
    const w = new Uint32Array(b.buffer, 0, b.length >> 2);
    const out = new Float64Array(w.length);
    let n = 0, cur = 0;
    for (let i = 0; i < w.length; i++) {
      const v = w[i];
      if (v === 0xFFFFFFFF) { cur = w[i + 1] * 4294967296 + w[i + 2]; i += 2; } else cur += v;
      out[n++] = cur;
    }
    return out.subarray(0, n);
  }
  // Interleaved start/end times -> {s, e, cum}; cum[i] = summed length of intervals before i.
  function intervals(packed) {
    const t = times(packed);
    const n = t.length >> 1;
    const s = new Float64Array(n), e = new Float64Array(n), cum = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) {
      s[i] = t[2 * i]; e[i] = t[2 * i + 1];
      cum[i + 1] = cum[i] + (e[i] - s[i]);
    }
    return { s, e, cum, n };
  }
  // First index i with a[i] > x (a sorted).
  function upper(a, x, lo, hi) {
    lo = lo || 0; hi = hi === undefined ? a.length : hi;
    while (lo < hi) { const m = (lo + hi) >> 1; if (a[m] <= x) lo = m + 1; else hi = m; }
    return lo;
  }
  // First index i with a[i] >= x.
  function lower(a, x) {
    let lo = 0, hi = a.length;
    while (lo < hi) { const m = (lo + hi) >> 1; if (a[m] < x) lo = m + 1; else hi = m; }
    return lo;
  }
  // Time covered by the intervals in [0, t].
  function covered(iv, t) {
    const i = upper(iv.s, t) - 1;
    if (i < 0) return 0;
    return iv.cum[i] + Math.min(t - iv.s[i], iv.e[i] - iv.s[i]);
  }

  // Ticks of waits known only by their count of time-outs: one switch
  // interval (iv, ns) apart from each wait's start, never past its end.
  function derivedTicks(wait, counts, iv) {
    let n = 0;
    for (let i = 0; i < wait.n; i++) n += counts[i];
    const t = new Float64Array(n);
    let k = 0;
    for (let i = 0; i < wait.n; i++) {
      for (let j = 1; j <= counts[i]; j++) t[k++] = Math.min(wait.s[i] + j * iv, wait.e[i]);
    }
    return t;
  }
  // A lane's summary of a large run (scale.py): per bucket of w ns, 16-bit
  // fractions of it held and waited, and holds and waits started in it ->
  // prefix sums, so that any stretch's totals cost two look-ups.
  function summary(s, w, n) {
    function cum(packed, scale) {
      const v = u16(packed);
      const c = new Float64Array(n + 1);
      for (let k = 0; k < n; k++) c[k + 1] = c[k] + (k < v.length ? v[k] * scale : 0);
      return c;
    }
    return { w: w, n: n, held: cum(s.h, w / 65535), waited: cum(s.w, w / 65535), nh: cum(s.nh, 1), nw: cum(s.nw, 1) };
  }
  // Summed value of a prefix-sum column over [0, t], linear inside a bucket.
  function sumAt(sm, c, t) {
    if (t <= 0) return 0;
    const k = Math.floor(t / sm.w);
    if (k >= sm.n) return c[sm.n];
    return c[k] + (t - k * sm.w) / sm.w * (c[k + 1] - c[k]);
  }
  // A name too wide for its label, cut in the middle so that its end, which
  // tells a pool's threads apart (ThreadPoolExecutor-0_7), stays: the
  // longest such cut whose width (measure) fits in px.
  function shortenMiddle(text, px, measure) {
    if (measure(text) <= px) return text;
    const chars = Array.from(text);  // whole code points
    function cut(k) {
      const head = Math.ceil(k * 0.4);
      return chars.slice(0, head).join('') + '…' + chars.slice(chars.length - (k - head)).join('');
    }
    let lo = 0, hi = chars.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (measure(cut(mid)) <= px) lo = mid; else hi = mid - 1;
    }
    return cut(lo);
  }
  return { bytes: bytes, u16: u16, f32: f32, times: times, intervals: intervals,
    upper: upper, lower: lower, covered: covered, derivedTicks: derivedTicks, summary: summary, sumAt: sumAt,
    shortenMiddle: shortenMiddle };
})();
if (typeof module === 'object' && module.exports) module.exports = gilscopeDecode;

(function () {
  if (typeof document === 'undefined') return;
  const bytes = gilscopeDecode.bytes, u16 = gilscopeDecode.u16, f32 = gilscopeDecode.f32,
    times = gilscopeDecode.times, intervals = gilscopeDecode.intervals, upper = gilscopeDecode.upper,
    lower = gilscopeDecode.lower, covered = gilscopeDecode.covered;
  const mark = function (name) { if (window.performance && performance.mark) performance.mark(name); };
  const data = JSON.parse(document.getElementById('gilscope-data').textContent);
  mark('gilscope-parsed');

  const lanes = data.lanes.map(function (l, i) {
    return {
      i: i, label: l.label, name: l.name, tid: l.tid, pid: l.pid, gil: l.gil, main: l.main,
      hold: intervals(l.h), holdCode: bytes(l.hc),
      wait: intervals(l.w), waitCode: bytes(l.wc), waitTimeouts: u16(l.wt),
      ticks: times(l.t), forced: intervals(l.f), drops: [],
    };
  });
  // Too many time-outs to embed (data.py, TICK_BUDGET): one tick per switch
  // interval from the start of each wait, as many as the wait counted.
  if (data.ticks && data.ticks.derived) {
    const ivOf = {};
    data.groups.forEach(function (g) { if (g.gil !== null) ivOf[g.gil] = g.interval_ns; });
    lanes.forEach(function (l) { if (ivOf[l.gil]) l.ticks = gilscopeDecode.derivedTicks(l.wait, l.waitTimeouts, ivOf[l.gil]); });
  }
  const drops = { ts: times(data.drops.ts), req: u16(data.drops.req), hold: u16(data.drops.hold), resp: f32(data.drops.resp) };
  for (let k = 0; k < drops.ts.length; k++) lanes[drops.hold[k]].drops.push(k);
  lanes.forEach(function (l) {
    l.dropTs = Float64Array.from(l.drops, function (k) { return drops.ts[k]; });
  });
  // A large run (data.summary): lanes carry a summary everywhere and single
  // intervals only inside the busiest windows.
  const SUM = data.summary || null;
  if (SUM) {
    data.lanes.forEach(function (l, i) { lanes[i].sum = gilscopeDecode.summary(l.s || {}, SUM.bucket_ns, SUM.buckets); });
  }
  const sumAt = gilscopeDecode.sumAt;
  mark('gilscope-decoded');
  const span = data.span;
  const gilIntervals = {};
  data.groups.forEach(function (g) { if (g.gil !== null) gilIntervals[g.gil] = g.interval; });

  // ---- formatting ----
  function fmtDur(ns) {
    const a = Math.abs(ns);
    if (a >= 1e9) return (ns / 1e9).toFixed(a >= 1e11 ? 1 : a >= 1e10 ? 2 : 3) + ' s';
    if (a >= 1e6) return (ns / 1e6).toFixed(a >= 1e8 ? 1 : a >= 1e7 ? 2 : 3) + ' ms';
    if (a >= 1e3) return (ns / 1e3).toFixed(a >= 1e5 ? 1 : a >= 1e4 ? 2 : 3) + ' µs';
    return Math.round(ns) + ' ns';
  }
  function fmtAt(ns) { return '+' + fmtDur(ns); }
  function axisUnit(step) {
    if (step >= 1e9) return [1e9, 's'];
    if (step >= 1e6) return [1e6, 'ms'];
    if (step >= 1e3) return [1e3, 'µs'];
    return [1, 'ns'];
  }
  function niceStep(raw) {
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  // ---- colours (kept in sync with the CSS legend) ----
  const C = {
    hold: '#2f9e5b', wait: '#dc4b3e', tick: '#8c1d14', drop: '#e09400', dropLine: 'rgba(200,130,0,0.75)',
    forced: '#7a4fd0', laneBg: '#f4f6f9', laneBgAlt: '#fafbfc', grid: 'rgba(30,40,60,0.08)',
    axis: '#5b6475', text: '#2a3140', lost: 'rgba(210,40,40,0.28)', lostMark: '#d23c3c', group: '#e8ebf1',
  };

  // ---- layout: one header row per (process, GIL), one lane per thread ----
  const AXIS_H = 28, GROUP_H = 24, LANE_H = 30;
  const TICK_Y = 2, TICK_H = 6, BAR_Y = 9, BAR_H = 16, FORCED_Y = 26, FORCED_H = 3;
  const rows = [];
  let y = AXIS_H;
  data.groups.forEach(function (g) {
    rows.push({ kind: 'group', group: g, y: y, h: GROUP_H }); y += GROUP_H;
    g.lanes.forEach(function (li) { rows.push({ kind: 'lane', lane: lanes[li], y: y, h: LANE_H }); lanes[li].y = y; y += LANE_H; });
  });
  const totalH = y + 6;
  function groupText(g) {
    if (g.gil === null) return 'no GIL activity';
    const parts = ['GIL ' + (g.address || g.gil)];
    if (g.interval) parts.push('switch interval ' + g.interval);
    if (g.python) parts.push('Python ' + g.python);
    if (g.held_pct !== null && g.held_pct !== undefined) parts.push('held ' + g.held_pct.toFixed(1) + '%');
    if (g.contention_pct !== null && g.contention_pct !== undefined) parts.push('contended ' + g.contention_pct.toFixed(1) + '%');
    if (g.switches_per_s !== null && g.switches_per_s !== undefined) parts.push(g.switches_per_s.toFixed(0) + ' switches/s');
    return parts.join(' · ');
  }

  const root = document.getElementById('timeline');
  if (!root) return;
  const labelsEl = document.getElementById('tl-labels');
  const canvas = document.getElementById('tl-canvas');
  const ctx = canvas.getContext('2d');
  const ov = document.getElementById('tl-overview');
  const octx = ov.getContext('2d');
  const tip = document.getElementById('tl-tip');
  const rangeEl = document.getElementById('tl-range');

  // Labels: plain DOM text, aligned with the canvas rows; a long name is
  // cut in the middle to fit (the full one is in the tooltip).
  (function buildLabels() {
    const ruler = document.createElement('canvas').getContext('2d');
    const style = window.getComputedStyle(labelsEl);
    function measurer(weight) {
      ruler.font = weight + ' 13px ' + style.fontFamily;
      return function (t) { return ruler.measureText(t).width; };
    }
    const normal = measurer('400'), bold = measurer('600');
    const labelPx = Math.max(60, labelsEl.getBoundingClientRect().width - 20 - 8);
    const axis = document.createElement('div');
    axis.className = 'tl-axis-spacer'; axis.style.height = AXIS_H + 'px';
    axis.textContent = 'thread';
    labelsEl.appendChild(axis);
    rows.forEach(function (r) {
      const d = document.createElement('div');
      d.style.height = r.h + 'px';
      if (r.kind === 'group') {
        const g = r.group;
        d.className = 'group-label';
        d.textContent = (g.procname ? g.procname + ' ' : '') + '(pid ' + g.pid + ')';
        d.title = d.textContent + ' · ' + groupText(g);
      } else {
        const l = r.lane;
        d.className = 'lane-label' + (l.main ? ' main' : '');
        d.setAttribute('data-tid', String(l.tid));
        const name = document.createElement('span');
        name.className = 'lane-name';
        const tid = document.createElement('span');
        tid.className = 'lane-tid';
        tid.textContent = l.name ? String(l.tid) : '';
        const room = labelPx - (l.name ? normal(tid.textContent) * 11 / 13 + 2 : 0);
        name.textContent = gilscopeDecode.shortenMiddle(l.label, room, l.main ? bold : normal);
        d.appendChild(name); d.appendChild(tid);
        d.title = l.label + ' (tid ' + l.tid + ', pid ' + l.pid + ')';
      }
      labelsEl.appendChild(d);
    });
  })();

  // ---- view state ----
  const pad = span * 0.01;
  const full = { start: -pad, end: span + pad };
  const view = { start: full.start, end: full.end };
  const MIN_SPAN = 200; // ns
  let cssW = 0, dpr = 1, pending = false;

  function clampView() {
    let w = view.end - view.start;
    const maxW = full.end - full.start;
    if (w > maxW) { view.start = full.start; view.end = full.end; return; }
    if (w < MIN_SPAN) { const c = (view.start + view.end) / 2; view.start = c - MIN_SPAN / 2; view.end = c + MIN_SPAN / 2; w = MIN_SPAN; }
    if (view.start < full.start) { view.start = full.start; view.end = full.start + w; }
    if (view.end > full.end) { view.end = full.end; view.start = full.end - w; }
  }
  function schedule() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () { pending = false; draw(); });
  }
  function resize() {
    dpr = window.devicePixelRatio || 1;
    cssW = Math.max(200, canvas.parentElement.clientWidth);
    canvas.style.width = cssW + 'px'; canvas.style.height = totalH + 'px';
    canvas.width = Math.round(cssW * dpr); canvas.height = Math.round(totalH * dpr);
    ov.style.width = cssW + 'px';
    const ovH = Math.max(40, Math.min(100, lanes.length * 4 + 6));  // 3 px or more per lane
    ov.style.height = ovH + 'px';
    ov.width = Math.round(cssW * dpr); ov.height = Math.round(ovH * dpr);
    overviewImage = null;
    draw();
  }

  // ---- drawing ----
  // Per device-pixel column: the fraction of it each lane held and waited.
  function fractions(cov, start, nsPerPx, cols, out) {
    let prev = cov(start);
    for (let c = 0; c < cols; c++) {
      const cur = cov(start + (c + 1) * nsPerPx);
      out[c] = Math.min(1, Math.max(0, (cur - prev) / nsPerPx));
      prev = cur;
    }
  }
  // Stacked columns: green from the bottom, red above it; a column with any
  // activity shows at least minPx, so short holds stay visible zoomed out.
  // cov1, cov2: time held and waited in [0, t] (null: none at all).
  function drawBars(g, cov1, cov2, x0, y0, h, cols, start, nsPerPx, minPx) {
    const a = new Float32Array(cols), b = new Float32Array(cols);
    if (cov1) fractions(cov1, start, nsPerPx, cols, a);
    if (cov2) fractions(cov2, start, nsPerPx, cols, b);
    function px(f) { return f <= 0 ? 0 : Math.max(minPx, Math.round(f * h)); }
    let runStart = 0, rh = px(a[0]), rw = Math.min(h - rh, px(b[0]));
    for (let c = 1; c <= cols; c++) {
      let hh = -1, ww = -1;
      if (c < cols) { hh = px(a[c]); ww = Math.min(h - hh, px(b[c])); }
      if (hh !== rh || ww !== rw) {
        const w = c - runStart;
        if (rh > 0) { g.fillStyle = C.hold; g.fillRect(x0 + runStart, y0 + h - rh, w, rh); }
        if (rw > 0) { g.fillStyle = C.wait; g.fillRect(x0 + runStart, y0 + h - rh - rw, w, rw); }
        runStart = c; rh = hh; rw = ww;
      }
    }
  }
  // Calls fn(index, column) for the first point of each column that has one.
  function eachColumn(ts, start, nsPerPx, cols, fn) {
    let i = lower(ts, start);
    const end = start + cols * nsPerPx;
    while (i < ts.length && ts[i] < end) {
      const c = Math.floor((ts[i] - start) / nsPerPx);
      fn(i, c);
      i = lower(ts, start + (c + 1) * nsPerPx);
    }
  }

  // Marks at the times ts (with their end times, or none), each at least minW
  // wide; touching marks are merged into one rectangle.
  function strip(g, ts, te, y, h, start, nsPerPx, cols, minW) {
    let r0 = -1, r1 = -1;
    eachColumn(ts, start, nsPerPx, cols, function (i, c) {
      const w = te ? Math.max(minW, (te[i] - ts[i]) / nsPerPx) : minW;
      if (c <= r1) { r1 = Math.max(r1, c + w); return; }
      if (r1 > r0) g.fillRect(r0, y, r1 - r0, h);
      r0 = c; r1 = c + w;
    });
    if (r1 > r0) g.fillRect(r0, y, r1 - r0, h);
  }

  function drawAxis(g, W, start, nsPerPx) {
    const step = niceStep(nsPerPx * 110 * dpr);
    const u = axisUnit(step);
    const decimals = Math.max(0, Math.ceil(-Math.log10(step / u[0]) - 1e-9));
    g.font = (11 * dpr) + 'px system-ui, -apple-system, "Segoe UI", sans-serif';
    g.textBaseline = 'middle';
    g.fillStyle = C.axis;
    const first = Math.ceil(start / step) * step;
    for (let t = first; t < start + W * nsPerPx; t += step) {
      const x = Math.round((t - start) / nsPerPx) + 0.5;
      g.fillStyle = C.grid; g.fillRect(x, AXIS_H * dpr - 4 * dpr, 1, canvas.height);
      g.fillStyle = C.axis; g.fillRect(x, AXIS_H * dpr - 6 * dpr, 1, 6 * dpr);
      const v = t / u[0];
      g.fillText((Math.abs(v) < 1e-12 ? '0' : v.toFixed(decimals)) + ' ' + u[1], x + 4 * dpr, AXIS_H * dpr / 2);
    }
    g.fillStyle = '#cfd5df'; g.fillRect(0, AXIS_H * dpr - 1, W, 1);
  }

  // The lane's held and waited time up to t: from its single intervals, or
  // from its summary when they are not all on the page (exact: false).
  function coverage(l, exact) {
    if (exact || !l.sum) {
      return [l.hold.n ? function (t) { return covered(l.hold, t); } : null,
        l.wait.n ? function (t) { return covered(l.wait, t); } : null];
    }
    const sm = l.sum;
    return [sm.held[sm.n] > 0 ? function (t) { return sumAt(sm, sm.held, t); } : null,
      sm.waited[sm.n] > 0 ? function (t) { return sumAt(sm, sm.waited, t); } : null];
  }
  // Single intervals are on the page for the whole run, or for the view
  // when it lies inside one of the detail windows.
  function detailWindow(a, b) {
    if (!SUM) return null;
    for (let k = 0; k < SUM.windows.length; k++) {
      const w = SUM.windows[k];
      if (a >= w[0] && b <= w[1]) return w;
    }
    return null;
  }
  function exactView() { return !SUM || detailWindow(view.start, view.end) !== null; }

  // More than one marker per 6 CSS pixels in view: too many to draw one by one.
  function dense(ts) {
    return lower(ts, view.end) - lower(ts, view.start) > cssW / 6;
  }
  function draw() {
    clampView();
    const W = canvas.width, H = canvas.height;
    const nsPerPx = (view.end - view.start) / W;
    const g = ctx;
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.clearRect(0, 0, W, H);
    // lane backgrounds and group bands
    rows.forEach(function (r, k) {
      if (r.kind === 'group') { g.fillStyle = C.group; g.fillRect(0, r.y * dpr, W, r.h * dpr); }
      else { g.fillStyle = k % 2 ? C.laneBg : C.laneBgAlt; g.fillRect(0, r.y * dpr, W, r.h * dpr); }
    });
    // run bounds: outside the trace is hatched grey
    g.fillStyle = 'rgba(120,130,150,0.10)';
    const xs = (0 - view.start) / nsPerPx, xe = (span - view.start) / nsPerPx;
    if (xs > 0) g.fillRect(0, AXIS_H * dpr, xs, H);
    if (xe < W) g.fillRect(xe, AXIS_H * dpr, W - xe, H);
    drawAxis(g, W, view.start, nsPerPx);
    const minBar = Math.max(1, Math.round(2 * dpr));
    const exact = exactView();
    if (SUM) {  // where single intervals are on the page: a band on the axis
      g.fillStyle = 'rgba(55,103,214,0.35)';
      SUM.windows.forEach(function (w) {
        const a = (w[0] - view.start) / nsPerPx, b = (w[1] - view.start) / nsPerPx;
        if (b >= 0 && a <= W) g.fillRect(a, AXIS_H * dpr - 3 * dpr, Math.max(2 * dpr, b - a), 3 * dpr);
      });
    }
    lanes.forEach(function (l) {
      const y0 = l.y * dpr;
      const cov = coverage(l, exact);
      drawBars(g, cov[0], cov[1], 0, y0 + BAR_Y * dpr, BAR_H * dpr, W, view.start, nsPerPx, minBar);
      if (!exact) return;  // time-outs and forced switches: inside the detail windows only
      // a tick for every timed-out wait
      g.fillStyle = C.tick;
      g.globalAlpha = dense(l.ticks) ? 0.45 : 1;
      strip(g, l.ticks, null, y0 + TICK_Y * dpr, TICK_H * dpr, view.start, nsPerPx, W, Math.max(1, Math.round(dpr)));
      // forced switches: the old holder waits until another thread took the GIL
      g.fillStyle = C.forced;
      g.globalAlpha = dense(l.forced.s) ? 0.45 : 1;
      strip(g, l.forced.s, l.forced.e, y0 + FORCED_Y * dpr, FORCED_H * dpr, view.start, nsPerPx, W, 2 * dpr);
      g.globalAlpha = 1;
    });
    // drop requests: a marker on the holder's lane; lines from the requester when few
    const a0 = lower(drops.ts, view.start), a1 = lower(drops.ts, view.end);
    if (exact && a1 - a0 <= 400) {
      g.strokeStyle = C.dropLine; g.lineWidth = Math.max(1, dpr);
      g.beginPath();
      for (let k = a0; k < a1; k++) {
        const x = Math.round((drops.ts[k] - view.start) / nsPerPx) + 0.5;
        const ry = (lanes[drops.req[k]].y + BAR_Y + BAR_H / 2) * dpr, hy = (lanes[drops.hold[k]].y + TICK_Y + TICK_H) * dpr;
        g.moveTo(x, ry); g.lineTo(x, hy);
      }
      g.stroke();
      g.fillStyle = C.drop;
      for (let k = a0; k < a1; k++) {
        const x = Math.round((drops.ts[k] - view.start) / nsPerPx) + 0.5;
        const ry = (lanes[drops.req[k]].y + BAR_Y + BAR_H / 2) * dpr;
        g.beginPath(); g.arc(x, ry, 2.2 * dpr, 0, 2 * Math.PI); g.fill();
      }
    }
    g.fillStyle = C.drop;
    const s = 4 * dpr;
    lanes.forEach(function (l) {
      const y0 = (l.y + TICK_Y) * dpr;
      if (!exact) return;
      if (dense(l.dropTs)) {  // too many to tell apart: a faint strip where they are
        g.globalAlpha = 0.5;
        strip(g, l.dropTs, null, y0, 3 * dpr, view.start, nsPerPx, W, Math.max(1, dpr));
        g.globalAlpha = 1;
        return;
      }
      eachColumn(l.dropTs, view.start, nsPerPx, W, function (i, c) {
        g.beginPath(); g.moveTo(c - s, y0 - dpr); g.lineTo(c + s, y0 - dpr); g.lineTo(c, y0 + s + dpr); g.closePath(); g.fill();
      });
    });
    // lost events: a red band over every lane and a mark on the axis
    data.lost.forEach(function (l) {
      if (l.start === null) return;
      const a = (l.start - view.start) / nsPerPx, b = ((l.end === null ? l.start : l.end) - view.start) / nsPerPx;
      if (b < 0 || a > W) return;
      const w = Math.max(3 * dpr, b - a);
      g.fillStyle = C.lost; g.fillRect(a, AXIS_H * dpr, w, H);
      g.fillStyle = C.lostMark; g.fillRect(a, AXIS_H * dpr - 5 * dpr, w, 5 * dpr);
    });
    // group bands: which GIL
    g.font = (11 * dpr) + 'px system-ui, -apple-system, "Segoe UI", sans-serif';
    g.textBaseline = 'middle';
    g.fillStyle = '#59627a';
    rows.forEach(function (r) {
      if (r.kind === 'group') g.fillText(groupText(r.group), 8 * dpr, (r.y + r.h / 2) * dpr);
    });
    if (window.gilscopeOverlay) window.gilscopeOverlay(g, lanes, view.start, nsPerPx, W, dpr, BAR_Y, BAR_H);
    drawOverview();
    let txt = fmtAt(Math.max(0, view.start)) + ' – ' + fmtAt(Math.min(span, view.end)) + '  (' + fmtDur(view.end - view.start) + ' shown)';
    if (SUM) txt += exact ? ' · single intervals' : ' · summary, ' + fmtDur(SUM.bucket_ns) + ' per bucket';
    root.setAttribute('data-mode', exact ? 'intervals' : 'summary');
    rangeEl.textContent = txt;
    root.setAttribute('data-view-start', String(Math.round(view.start)));
    root.setAttribute('data-view-end', String(Math.round(view.end)));
  }

  // Overview: the whole run, all lanes squeezed, with the view as a window.
  let overviewImage = null;
  function drawOverview() {
    const W = ov.width, H = ov.height;
    if (!overviewImage) {
      const off = document.createElement('canvas');
      off.width = W; off.height = H;
      const g = off.getContext('2d');
      g.fillStyle = '#f4f6f9'; g.fillRect(0, 0, W, H);
      const n = Math.max(1, lanes.length);
      const lh = Math.max(1, Math.floor((H - 4) / n));
      const nsPerPx = (full.end - full.start) / W;
      lanes.forEach(function (l, k) {
        const cov = coverage(l, !SUM);
        drawBars(g, cov[0], cov[1], 0, 2 + k * lh, Math.max(1, lh - (lh > 3 ? 1 : 0)), W, full.start, nsPerPx, 1);
      });
      if (SUM) {  // the detail windows, framed
        g.strokeStyle = 'rgba(55,103,214,0.9)'; g.lineWidth = Math.max(1, dpr);
        SUM.windows.forEach(function (w) {
          const a = (w[0] - full.start) / nsPerPx, b = (w[1] - full.start) / nsPerPx;
          g.strokeRect(a, 0.5, Math.max(2, b - a), H - 1);
        });
      }
      overviewImage = off;
    }
    octx.setTransform(1, 0, 0, 1, 0, 0);
    octx.clearRect(0, 0, W, H);
    octx.drawImage(overviewImage, 0, 0);
    const k = W / (full.end - full.start);
    const a = (view.start - full.start) * k, b = (view.end - full.start) * k;
    octx.fillStyle = 'rgba(245,247,250,0.6)';
    octx.fillRect(0, 0, a, H); octx.fillRect(b, 0, W - b, H);
    octx.strokeStyle = '#3767d6'; octx.lineWidth = 1.5 * dpr;
    octx.strokeRect(a + 0.75 * dpr, 0.75 * dpr, Math.max(2 * dpr, b - a - 1.5 * dpr), H - 1.5 * dpr);
  }

  // ---- interaction ----
  function zoomAt(factor, cssX) {
    const f = cssX / cssW;
    const t = view.start + f * (view.end - view.start);
    const w = (view.end - view.start) * factor;
    view.start = t - f * w; view.end = view.start + w;
    clampView(); schedule();
  }
  canvas.addEventListener('wheel', function (ev) {
    ev.preventDefault();
    const r = canvas.getBoundingClientRect();
    if (Math.abs(ev.deltaX) > Math.abs(ev.deltaY) || ev.shiftKey) {
      const d = (ev.shiftKey ? ev.deltaY : ev.deltaX) / cssW * (view.end - view.start);
      view.start += d; view.end += d; clampView(); schedule();
      return;
    }
    const unit = ev.deltaMode === 1 ? 30 : ev.deltaMode === 2 ? 300 : 1;
    zoomAt(Math.exp(ev.deltaY * unit * 0.0018), ev.clientX - r.left);
  }, { passive: false });

  let drag = null;
  canvas.addEventListener('mousedown', function (ev) {
    if (ev.button !== 0) return;
    drag = { x: ev.clientX, start: view.start, end: view.end };
    canvas.classList.add('dragging'); hideTip();
    ev.preventDefault();
  });
  window.addEventListener('mousemove', function (ev) {
    if (!drag) return;
    const d = (drag.x - ev.clientX) / cssW * (drag.end - drag.start);
    view.start = drag.start + d; view.end = drag.end + d; clampView(); schedule();
  });
  window.addEventListener('mouseup', function () { drag = null; canvas.classList.remove('dragging'); });
  canvas.addEventListener('dblclick', function (ev) {
    const r = canvas.getBoundingClientRect();
    zoomAt(ev.shiftKey ? 2 : 0.5, ev.clientX - r.left);
  });
  document.getElementById('tl-reset').addEventListener('click', function () { view.start = full.start; view.end = full.end; schedule(); });
  document.getElementById('tl-in').addEventListener('click', function () { zoomAt(0.5, cssW / 2); });
  document.getElementById('tl-out').addEventListener('click', function () { zoomAt(2, cssW / 2); });

  // Keys, when the page has the focus: + and - zoom, 0 resets, arrows pan.
  document.addEventListener('keydown', function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const w = view.end - view.start;
    if (ev.key === '+' || ev.key === '=') zoomAt(0.5, cssW / 2);
    else if (ev.key === '-' || ev.key === '_') zoomAt(2, cssW / 2);
    else if (ev.key === '0') { view.start = full.start; view.end = full.end; schedule(); }
    else if (ev.key === 'ArrowLeft' || ev.key === 'ArrowRight') {
      const d = (ev.key === 'ArrowLeft' ? -0.2 : 0.2) * w;
      view.start += d; view.end += d; clampView(); schedule();
    } else return;
    ev.preventDefault();
  });

  let ovDrag = false;
  function ovMove(ev) {
    const r = ov.getBoundingClientRect();
    const t = full.start + (ev.clientX - r.left) / r.width * (full.end - full.start);
    const w = view.end - view.start;
    view.start = t - w / 2; view.end = t + w / 2; clampView(); schedule();
  }
  ov.addEventListener('mousedown', function (ev) { ovDrag = true; ovMove(ev); ev.preventDefault(); });
  window.addEventListener('mousemove', function (ev) { if (ovDrag) ovMove(ev); });
  window.addEventListener('mouseup', function () { ovDrag = false; });

  // ---- tooltip ----
  function hideTip() { tip.hidden = true; }
  function line(parent, label, value, cls) {
    const d = document.createElement('div');
    if (cls) d.className = cls;
    if (label) { const b = document.createElement('span'); b.className = 'k'; b.textContent = label; d.appendChild(b); }
    d.appendChild(document.createTextNode(value));
    parent.appendChild(d);
  }
  const HOLD_END = ['released it (voluntary)', 'forced to release it (drop request)', 'still held at trace end', 'ended (unknown)'];
  const WAIT_END = ['acquired the GIL', 'gave up (abandoned)', 'still waiting at trace end', 'ended (unknown)'];
  // Intervals of iv that overlap [a, b]: [first, last + 1).
  function overlapping(iv, a, b) { return [upper(iv.e, a), lower(iv.s, b)]; }
  function describe(lane, t, slack) {
    const box = document.createElement('div');
    const head = document.createElement('div'); head.className = 'tip-head';
    head.textContent = lane.label; box.appendChild(head);
    line(box, '', 'tid ' + lane.tid + ' · pid ' + lane.pid, 'tip-sub');
    const a = t - slack, b = t + slack;
    if (!exactView() && lane.sum) {
      const sm = lane.sum;
      const nh = Math.round(sumAt(sm, sm.nh, b) - sumAt(sm, sm.nh, a)), nw = Math.round(sumAt(sm, sm.nw, b) - sumAt(sm, sm.nw, a));
      const held = sumAt(sm, sm.held, b) - sumAt(sm, sm.held, a), waited = sumAt(sm, sm.waited, b) - sumAt(sm, sm.waited, a);
      line(box, '', 'about ' + nh + ' holds and ' + nw + ' waits here', 'tip-state');
      line(box, 'around ', fmtAt(t) + ' (' + fmtDur(b - a) + ')');
      line(box, 'holding ', Math.round(100 * held / (b - a)) + '%  · waiting ' + Math.round(100 * waited / (b - a)) + '%');
      line(box, '', 'summary of a large run: zoom into a marked window for single intervals', 'tip-hint');
      return box;
    }
    const h = overlapping(lane.hold, a, b), w = overlapping(lane.wait, a, b);
    const nh = h[1] - h[0], nw = w[1] - w[0];
    if (nh + nw > 1) {
      const held = covered(lane.hold, b) - covered(lane.hold, a), waited = covered(lane.wait, b) - covered(lane.wait, a);
      line(box, '', nh + ' holds and ' + nw + ' waits in this pixel', 'tip-state');
      line(box, 'around ', fmtAt(t) + ' (' + fmtDur(b - a) + ')');
      line(box, 'holding ', Math.round(100 * held / (b - a)) + '%  · waiting ' + Math.round(100 * waited / (b - a)) + '%');
      line(box, '', 'zoom in (wheel) for single intervals', 'tip-hint');
      return box;
    }
    // a single hold or wait: what it was, when, how long, how it ended, its code
    const single = (kind, iv, i, title, ended) => {
      line(box, '', title, 'tip-state ' + kind);
      line(box, 'start ', fmtAt(iv.s[i]));
      line(box, 'duration ', fmtDur(iv.e[i] - iv.s[i]));
      line(box, 'ended ', ended);
      if (window.gilscopeCodeOf) window.gilscopeCodeOf(box, line, lane, kind, iv.s[i]);
    };
    if (nh === 1) {
      const i = h[0], code = lane.holdCode[i];
      single('hold', lane.hold, i, 'holding the GIL', HOLD_END[code & 3]);
      const d0 = lower(lane.dropTs, lane.hold.s[i]), d1 = lower(lane.dropTs, lane.hold.e[i]);
      if (d1 > d0) {
        const k = lane.drops[d0], resp = drops.resp[k];
        line(box, 'drop request ', 'from ' + lanes[drops.req[k]].label + ' at ' + fmtAt(drops.ts[k]) +
          (resp >= 0 ? ', released ' + fmtDur(resp) + ' later' : '') + (d1 - d0 > 1 ? ' (+' + (d1 - d0 - 1) + ' more)' : ''));
      }
      if (code & 4) line(box, '', 'events were lost inside this interval', 'tip-warn');
    } else if (nw === 1) {
      const i = w[0], code = lane.waitCode[i];
      single('wait', lane.wait, i, 'waiting for the GIL', WAIT_END[code & 3]);
      const n = lane.waitTimeouts[i];
      if (n) line(box, 'timed out ', n + (n === 65535 ? '+' : '') + ' time' + (n === 1 ? '' : 's') + (gilIntervals[lane.gil] ? ' (switch interval ' + gilIntervals[lane.gil] + ')' : ''));
      if (code & 8) line(box, 'convoy ', 'back from I/O, it waited a whole interval or more for a busy GIL', 'tip-warn');
      if (code & 4) line(box, '', 'events were lost inside this interval', 'tip-warn');
    } else {
      const pe = upper(lane.hold.e, t) - 1, we = upper(lane.wait.e, t) - 1;
      const prev = Math.max(pe >= 0 ? lane.hold.e[pe] : -Infinity, we >= 0 ? lane.wait.e[we] : -Infinity);
      const ph = lower(lane.hold.s, t), pw = lower(lane.wait.s, t);
      const next = Math.min(ph < lane.hold.n ? lane.hold.s[ph] : Infinity, pw < lane.wait.n ? lane.wait.s[pw] : Infinity);
      line(box, '', 'not holding, not waiting', 'tip-state');
      line(box, '', 'running without the GIL (I/O, C code) or idle');
      if (isFinite(prev) && isFinite(next)) line(box, 'for ', fmtDur(next - prev) + ' from ' + fmtAt(prev));
      line(box, 'at ', fmtAt(t));
    }
    return box;
  }
  canvas.addEventListener('mousemove', function (ev) {
    if (drag) return;
    const r = canvas.getBoundingClientRect();
    const x = ev.clientX - r.left, yy = ev.clientY - r.top;
    const row = rows.find(function (q) { return q.kind === 'lane' && yy >= q.y && yy < q.y + q.h; });
    if (!row) { hideTip(); return; }
    const nsPerCss = (view.end - view.start) / cssW;
    const t = view.start + x * nsPerCss;
    if (t < 0 || t > span) { hideTip(); return; }
    tip.replaceChildren(describe(row.lane, t, nsPerCss * 1.5));
    tip.hidden = false;
    // fixed to the window: never clipped, flipped to stay inside it
    let left = ev.clientX + 14, top = ev.clientY + 16;
    if (left + tip.offsetWidth > window.innerWidth - 6) left = ev.clientX - tip.offsetWidth - 14;
    if (top + tip.offsetHeight > window.innerHeight - 6) top = ev.clientY - tip.offsetHeight - 12;
    tip.style.left = Math.max(4, left) + 'px'; tip.style.top = Math.max(4, top) + 'px';
  });
  canvas.addEventListener('mouseleave', hideTip);

  // The detail windows' buttons (render.py writes them): show that window.
  document.querySelectorAll('button.tl-win').forEach(function (btn) {
    btn.addEventListener('click', function () {
      view.start = Number(btn.getAttribute('data-start')); view.end = Number(btn.getAttribute('data-end'));
      clampView(); schedule();
      document.getElementById('timeline-panel').scrollIntoView({ block: 'start' });
    });
  });

  window.addEventListener('resize', resize);
  window.addEventListener('scroll', hideTip, { passive: true });
  resize();
  mark('gilscope-timeline-drawn');
  window.gilscopeReport = { view: view, lanes: lanes.length, draw: draw, laneList: lanes, data: data };
})();

// ---- sortable tables: click a header ----
(function () {
  if (typeof document === 'undefined') return;
  document.querySelectorAll('table.sortable').forEach(function (table) {
    const heads = table.querySelectorAll('th');
    heads.forEach(function (th, col) {
      th.addEventListener('click', function () {
        const numeric = th.classList.contains('num');
        const desc = th.getAttribute('aria-sort') !== 'descending';
        heads.forEach(function (o) { o.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', desc ? 'descending' : 'ascending');
        const body = table.tBodies[0];
        const rows = Array.from(body.rows);
        rows.sort(function (a, b) {
          const x = a.cells[col].getAttribute('data-v'), y = b.cells[col].getAttribute('data-v');
          let r = numeric ? (parseFloat(x) || 0) - (parseFloat(y) || 0) : String(x).localeCompare(String(y));
          return desc ? -r : r;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
