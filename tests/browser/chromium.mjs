// What the page checks share: the result they print (checks, console
// messages, dialogs, requests) and a page in a fresh headless Chromium
// profile (playwright-core driving Debian's /usr/bin/chromium) that
// records what the page logs, opens and fetches.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// out: the JSON printed at the end; check(cond, what, detail) adds a line.
export function results() {
  const out = { checks: [], console: [], dialogs: [], requests: [], ok: true };
  function check(cond, what, detail) {
    out.checks.push({ ok: !!cond, what, detail: detail === undefined ? null : detail });
    if (!cond) out.ok = false;
  }
  return { out, check };
}

// A page at 1440x900 whose errors, warnings, dialogs (dismissed) and
// requests other than file: and data: go to out; close() ends Chromium and
// removes its profile.
export async function openPage(executablePath, out) {
  const profile = mkdtempSync(join(tmpdir(), 'gilscope-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath, headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
      viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1,
    });
  } catch (e) {
    rmSync(profile, { recursive: true, force: true });
    throw e;
  }
  const page = context.pages()[0] || await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') out.console.push(m.type() + ': ' + m.text()); });
  page.on('pageerror', (e) => out.console.push('pageerror: ' + e.message));
  page.on('dialog', async (d) => { out.dialogs.push(d.type() + ': ' + d.message()); await d.dismiss(); });
  page.on('request', (r) => { if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) out.requests.push(r.url()); });
  return {
    page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

// Prints out and exits: 0 when every check passed.
export function finish(out) {
  console.log(JSON.stringify(out, null, 1));
  process.exit(out.ok ? 0 : 1);
}
