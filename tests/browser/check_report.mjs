// Opens a gilscope report in Debian's headless Chromium (playwright-core) and
// checks it as a person would; prints one JSON object with what it saw.
//
//   node check_report.mjs --html report.html --lanes 3 --text '<img ...>' \
//        --screenshot out.png [--zoom-ms 80] [--large]
//
// --large: a page that summarises a large run (data.summary): it must open
// in summary mode, and zooming into a detail window must show single
// intervals (the tooltip of one hold or wait).
// Exit status 0 when every check passed, 1 otherwise (the JSON says which).
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { finish, openPage, results } from './chromium.mjs';

function args() {
  const a = { lanes: -1, text: null, screenshot: null, zoomMs: 80, chromium: '/usr/bin/chromium' };
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i++) {
    const k = v[i], x = v[i + 1];
    if (k === '--html') a.html = x; else if (k === '--lanes') a.lanes = Number(x);
    else if (k === '--text') a.text = x; else if (k === '--screenshot') a.screenshot = x;
    else if (k === '--zoom-ms') a.zoomMs = Number(x); else if (k === '--chromium') a.chromium = x;
    else if (k === '--only-timing') { a.onlyTiming = true; continue; }
    else if (k === '--large') { a.large = true; continue; }
    else if (k === '--long-names') { a.longNames = true; continue; }
    else throw new Error('unknown argument ' + k);
    i++;
  }
  if (!a.html) throw new Error('--html is required');
  return a;
}

const opt = args();
const { out, check } = results();
let session;
try {
  session = await openPage(opt.chromium, out);
  const page = session.page;

  const url = pathToFileURL(resolve(opt.html)).href;
  const t0 = Date.now();
  await page.goto(url, { waitUntil: 'load', timeout: 60000 });
  out.load_ms = Date.now() - t0;
  await page.waitForFunction(() => performance.getEntriesByName('gilscope-timeline-drawn').length > 0, null, { timeout: 30000 });
  const timing = await page.evaluate(() => {
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    const drawn = performance.getEntriesByName('gilscope-timeline-drawn')[0];
    const at = (n) => { const e = performance.getEntriesByName(n)[0]; return e ? Math.round(e.startTime) : null; };
    return { fcp_ms: fcp ? Math.round(fcp.startTime) : null, data_parsed_ms: at('gilscope-parsed'),
      data_decoded_ms: at('gilscope-decoded'), timeline_drawn_ms: drawn ? Math.round(drawn.startTime) : null };
  });
  Object.assign(out, timing);
  if (opt.onlyTiming) {
    check(out.console.length === 0, 'no console error', out.console);
  } else {
    check(out.console.length === 0, 'no console error or warning', out.console);
    check(out.requests.length === 0, 'nothing fetched from the network', out.requests);

    const labels = await page.$$eval('.lane-label', (els) => els.map((e) => e.querySelector('.lane-name').textContent));
    out.lane_labels = labels;
    if (opt.lanes >= 0) check(labels.length === opt.lanes, `one lane per thread (${opt.lanes})`, labels.length);

    // Every label fits its box; a cut one keeps its end and the tooltip
    // (title) has the whole name.
    const shown = await page.$$eval('.lane-label', (els) => els.map((e) => {
      const n = e.querySelector('.lane-name');
      return { text: n.textContent, title: e.title, fits: n.scrollWidth <= n.clientWidth + 1 };
    }));
    const full = await page.evaluate(() => JSON.parse(document.getElementById('gilscope-data').textContent).lanes.map((l) => l.label));
    out.labels_shown = shown.map((x) => x.text);
    check(shown.every((x) => x.fits), 'every lane label fits its box', shown.filter((x) => !x.fits));
    check(shown.every((x, i) => x.title.startsWith(full[i] + ' (')), 'the tooltip of a label has the whole name',
      shown.map((x) => x.title));
    if (opt.longNames) {
      const cut = shown.filter((x, i) => x.text !== full[i]);
      check(cut.length > 0 && cut.every((x) => x.text.includes('…')), 'long names are cut with an ellipsis', out.labels_shown);
      check(shown.every((x, i) => x.text.slice(-2) === full[i].slice(-2)), 'a cut name keeps its end', out.labels_shown);
      check(new Set(out.labels_shown).size === shown.length, 'the lanes still read apart', out.labels_shown);
    }

    if (opt.text !== null) {
      check(labels.includes(opt.text) || shown.some((x) => x.title.startsWith(opt.text + ' (') && x.text.includes('…')),
        'the malicious thread name shows as text in a lane label (or its tooltip, when cut)', labels);
      const cells = await page.$$eval('table.threads td.name', (els) => els.map((e) => e.textContent));
      check(cells.includes(opt.text), 'the malicious thread name shows as text in the thread table', cells);
      const imgs = await page.$$eval('img', (els) => els.length);
      check(imgs === 0, 'no <img> element was created from a name', imgs);
    }

    // The timeline sits below the header, cards and findings (their number
    // varies): bring it into the viewport before pointing at it.
    await page.$eval('#timeline-panel', (e) => e.scrollIntoView({ block: 'start' }));
    const canvas = await page.$('#tl-canvas');
    const box = await canvas.boundingBox();
    const range = () => page.$eval('#timeline', (e) => [Number(e.dataset.viewStart), Number(e.dataset.viewEnd)]);
    const settle = () => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const before = await range();
    await page.mouse.move(box.x + box.width * 0.5, box.y + 60);
    await page.mouse.wheel(0, -400);
    await settle();
    const after = await range();
    out.wheel = { before, after };
    check(after[1] - after[0] < (before[1] - before[0]) * 0.8, 'wheel zoom narrows the visible range', out.wheel);
    const text = await page.$eval('#tl-range', (e) => e.textContent);
    check(/shown/.test(text), 'the visible range is written out', text);

    await page.mouse.move(box.x + box.width * 0.5, box.y + 60);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.3, box.y + 60, { steps: 4 });
    await page.mouse.up();
    await settle();
    const panned = await range();
    check(panned[0] > after[0], 'dragging pans the view', { after, panned });

    await page.click('#tl-reset');
    await settle();
    const reset = await range();
    check(Math.abs((reset[1] - reset[0]) - (before[1] - before[0])) < 1, 'reset shows the whole run again', reset);
    await page.keyboard.press('+');
    await settle();
    const keyed = await range();
    check(keyed[1] - keyed[0] < (reset[1] - reset[0]) * 0.6, 'the + key zooms in', keyed);
    await page.keyboard.press('0');
    await settle();

    // Zoom to a window where single intervals show, hover one, and keep the picture.
    const span = await page.evaluate(() => JSON.parse(document.getElementById('gilscope-data').textContent).span);
    const zoomNs = Math.min(span, opt.zoomMs * 1e6);
    let zoomAt = span * 0.45;
    if (opt.large) {
      const mode = await page.$eval('#timeline', (e) => e.dataset.mode);
      check(mode === 'summary', 'a large run opens as a summary', mode);
      const note = await page.$eval('#tl-summary', (e) => e.textContent).catch(() => '');
      check(/busiest windows/.test(note) && /gilscope export/.test(note), 'the page says how it thinned the run', note);
      const before = await page.$eval('#tl-range', (e) => e.textContent);
      await page.click('button.tl-win');
      await settle();
      const mode2 = await page.$eval('#timeline', (e) => e.dataset.mode);
      const shown = await range();
      out.window_view = shown;
      check(mode2 === 'intervals', 'a detail window shows single intervals', { mode2, before, shown });
      zoomAt = shown[0] + (shown[1] - shown[0]) * 0.4;
    }
    await page.evaluate(([s, e]) => { const v = window.gilscopeReport.view; v.start = s; v.end = e; window.gilscopeReport.draw(); },
      [zoomAt, zoomAt + zoomNs]);
    await settle();
    // Hover each lane in turn until one explains an interval.
    const laneYs = await page.$$eval('.lane-label', (els) => els.map((e) => e.getBoundingClientRect().top + e.getBoundingClientRect().height / 2));
    let tipText = '';
    hover: for (const y of laneYs) {
      for (const f of [0.3, 0.45, 0.6, 0.75]) {
        await page.mouse.move(box.x + box.width * f, y);
        await settle();
        tipText = await page.$eval('#tl-tip', (e) => (e.hidden ? '' : e.textContent));
        if (/holding the GIL|waiting for the GIL/.test(tipText)) break hover;
      }
    }
    check(/(holding the GIL|waiting for the GIL)start \+.+duration .+ended .+/.test(tipText),
      'hovering an interval tells its thread, start, duration and how it ended', tipText);
    await page.click('table.threads th:nth-child(4)');
    const sorted = await page.$eval('table.threads th:nth-child(4)', (e) => e.getAttribute('aria-sort'));
    check(sorted === 'descending', 'clicking a table header sorts it', sorted);
    check(out.dialogs.length === 0, 'no dialog opened (no script from a name ran)', out.dialogs);
    check(out.console.length === 0, 'still no console error after the interaction', out.console);
    if (opt.screenshot) {
      // The page down to the timeline, with a tooltip on a hold that got a drop
      // request, in the lowest lane that has one.
      await page.evaluate(() => window.scrollTo(0, 0));
      const height = await page.evaluate(() => {
        const el = document.getElementById('timeline-panel');
        return Math.ceil(el.getBoundingClientRect().bottom + window.scrollY + 12);
      });
      await page.setViewportSize({ width: 1440, height: Math.min(1700, height + 150) });
      await settle();
      const b2 = await (await page.$('#tl-canvas')).boundingBox();
      const ys = await page.$$eval('.lane-label', (els) => els.map((e) => e.getBoundingClientRect().top + e.getBoundingClientRect().height / 2));
      let best = null;
      for (const y of ys.reverse()) {
        for (let f = 0.52; f <= 0.8 && !best; f += 0.02) {
          await page.mouse.move(b2.x + b2.width * f, y);
          const t = await page.$eval('#tl-tip', (e) => (e.hidden ? '' : e.textContent));
          if (/holding the GIL/.test(t) && /drop request/.test(t)) best = [f, y];
        }
        if (best) break;
      }
      if (best) await page.mouse.move(b2.x + b2.width * best[0], best[1]);
      await settle();
      await page.screenshot({ path: opt.screenshot, fullPage: false });
      out.screenshot = opt.screenshot;
    }
  }
} catch (e) {
  out.ok = false;
  out.error = String(e && e.stack || e);
} finally {
  if (session) await session.close();
}
finish(out);
