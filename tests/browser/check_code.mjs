// The report's Code panel in Debian's headless Chromium (playwright-core):
// the sites table sorts, a click on a site highlights its intervals on the
// timeline, a hold's tooltip names its code, the flame graphs are drawn.
// Prints one JSON object; exit status 0 when every check passed.
//
//   node check_code.mjs --html report.html --site 'sites.py:20 g' --lane g \
//        [--screenshot code.png] [--chromium /usr/bin/chromium]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { finish, openPage, results } from './chromium.mjs';

const a = { chromium: '/usr/bin/chromium', screenshot: null };
const v = process.argv.slice(2);
for (let i = 0; i < v.length; i += 2) a[v[i].replace(/^--/, '')] = v[i + 1];
if (!a.html || !a.site || !a.lane) throw new Error('--html, --site and --lane are required');

const { out, check } = results();
let session;
try {
  session = await openPage(a.chromium, out);
  const page = session.page;
  await page.goto(pathToFileURL(resolve(a.html)).href, { waitUntil: 'load', timeout: 60000 });
  await page.waitForFunction(() => performance.getEntriesByName('gilscope-timeline-drawn').length > 0, null, { timeout: 30000 });

  const rows = await page.$$eval('#code-sites tbody tr', (trs) => trs.map((tr) => tr.cells[0].textContent));
  check(rows.length > 0, 'the Code panel lists sites', rows.length);
  const row = rows.findIndex((t) => t.startsWith(a.site));
  check(row >= 0, 'the site ' + a.site + ' is in the table', rows.slice(0, 8));

  // Sorting: a click on "waited here" orders the rows by it, descending.
  await page.click('#code-sites thead th:nth-child(4)');
  const waited = await page.$$eval('#code-sites tbody tr', (trs) => trs.map((tr) => parseFloat(tr.cells[3].getAttribute('data-v')) || 0));
  check(waited.every((x, i) => i === 0 || waited[i - 1] >= x), 'sorting by "waited here" orders the rows', waited.slice(0, 6));

  // Click the site: its intervals are highlighted on the timeline.
  const tr = await page.evaluateHandle((site) => Array.from(document.querySelectorAll('#code-sites tbody tr'))
    .find((r) => r.cells[0].querySelector('span').textContent === site), a.site);
  await tr.asElement().click();
  const marked = await page.evaluate(() => {
    const t = document.getElementById('timeline');
    return { site: t.getAttribute('data-code-site'), marked: Number(t.getAttribute('data-code-marked')),
      drawn: Number(t.getAttribute('data-code-drawn')), picked: document.querySelectorAll('#code-sites tr.picked').length };
  });
  check(marked.marked > 0 && marked.drawn > 0 && marked.picked === 1,
    'a click on the site highlights its holds and waits on the timeline', marked);

  // Tooltip: zoom onto one hold of the lane that ended at the site, hover it.
  const spot = await page.evaluate((laneName) => {
    const R = window.gilscopeReport, code = R.data.code;
    const lane = R.laneList.find((l) => l.label === laneName || l.name === laneName);
    if (!lane) return null;
    const d = code.lanes.find((x) => x.gil === lane.gil && x.tid === lane.tid);
    const site = Number(document.getElementById('timeline').getAttribute('data-code-site'));
    let best = -1;
    for (let k = 0; k < d.hs.length; k++) if (d.hb[k] === site) { best = k; break; }
    if (best < 0) return null;
    const i = Array.prototype.indexOf.call(lane.hold.s, d.hs[best]);
    const s = lane.hold.s[i], e = lane.hold.e[i];
    R.view.start = s - (e - s) * 0.2; R.view.end = e + (e - s) * 0.2; R.draw();
    const c = document.getElementById('tl-canvas').getBoundingClientRect();
    const x = c.left + c.width * 0.5;
    const y = c.top + lane.y + 9;
    return { x, y, label: code.labels[site] };
  }, a.lane);
  check(spot !== null, 'a hold of lane ' + a.lane + ' ended at the site', spot);
  if (spot) {
    await page.mouse.move(spot.x, spot.y);
    await page.waitForTimeout(200);
    const tip = await page.$eval('#tl-tip', (t) => (t.hidden ? '' : t.textContent));
    check(tip.includes('let go at ' + spot.label), "the hold's tooltip names its code", tip);
  }

  const flames = await page.$$eval('.flame-svg', (ss) => ss.map((s) => s.querySelectorAll('rect').length));
  check(flames.length === 2 && flames[0] > 0, 'the held-time flame graph has frames', flames);
  const titles = await page.$$eval('.flame-svg g title', (ts) => ts.slice(0, 400).map((t) => t.textContent));
  check(titles.some((t) => t.startsWith(a.site)), 'the flame graph has a frame for the site', titles.slice(0, 5));

  check(out.console.length === 0, 'no console error or warning', out.console);
  check(out.requests.length === 0, 'nothing fetched', out.requests);
  if (a.screenshot) {
    const el = await page.$('#code');
    await el.screenshot({ path: a.screenshot });
  }
} catch (e) {
  check(false, 'the page could be driven', String(e && e.stack || e));
} finally {
  if (session) await session.close();
}
finish(out);
