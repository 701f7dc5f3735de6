// Drives the debug page of a running scopehub in headless Chromium:
// open /debug, connect, see the three simulated telescopes, subscribe,
// send a goto and see its progress and its successful response, check
// the log filter, the metrics chart and the feature flags panel, then
// save a screenshot.
//
//   [SCOPEHUB_TOKEN=<token>] node tests/browser/debug_page.mjs <port> <dir>
//
// Exits 0 when every step passed, 1 naming the failed step otherwise
// (with debug-page-failure.png in the artefact dir). Uses Debian's
// /usr/bin/chromium through playwright-core (no browser download); only
// 127.0.0.1 is contacted. SCOPEHUB_DEBUG_URL overrides the page URL (to
// try a page served elsewhere during development).
'use strict';

import {mkdirSync, mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {chromium} from 'playwright-core';

const CHROMIUM = process.env.SCOPEHUB_CHROMIUM ?? '/usr/bin/chromium';
// The flags of the machine notes: no sandbox (root), no GPU, and nothing
// that phones home (the network is closed; those connections only fail).
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic',
                       '--no-first-run', '--disable-background-networking',
                       '--disable-component-update', '--disable-sync'];
const STEP_MS = 20000;
const GOTO_MS = 45000;
const TELESCOPES = 3;

const [port, artefacts] = process.argv.slice(2);
if (!/^\d+$/.test(port ?? '') || !artefacts) {
  console.error('usage: node debug_page.mjs <port> <artefact dir>');
  process.exit(2);
}
const base = `http://127.0.0.1:${port}`;
// A token to connect with (an admin one lets the flag toggle go through).
const token = process.env.SCOPEHUB_TOKEN ?? '';
const authHeaders = token ? {Authorization: `Bearer ${token}`} : {};
const pageUrl = process.env.SCOPEHUB_DEBUG_URL ?? `${base}/debug`;

class StepFailure extends Error {}

let stepName = 'start';
async function step(name, fn) {
  stepName = name;
  const t0 = Date.now();
  await fn();
  console.log(`pass: ${name} (${Date.now() - t0} ms)`);
}

function fail(message) {
  throw new StepFailure(message);
}

/// RA/Dec well above the horizon at the simulator's default site (lat 50
/// N, lon 10 E) for |hourAngle| <= 3 h and dec in [20, 80]: the same
/// formula as sky_target in tests/integration/scopehub_testlib.py.
function skyTarget(hourAngle, dec) {
  const jd = Date.now() / 86400000 + 2440587.5;
  const gmst = 18.697374558 + 24.06570982441908 * (jd - 2451545.0);
  const lst = (((gmst + 10.0 / 15.0) % 24) + 24) % 24;
  const ra = (((lst - hourAngle) % 24) + 24) % 24;
  return {ra: Math.round(ra * 1e4) / 1e4, dec};
}

const byTestId = (id) => `[data-testid="${id}"]`;

async function run(page) {
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // HTTP errors the page handles itself (401/403/404 of /api/features)
    // are logged by Chromium as "Failed to load resource": not a bug.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource'))
      problems.push(`console error: ${m.text()}`);
  });
  page.on('requestfailed', (r) => {
    // A failed asset or WebSocket is a problem; an aborted scrape on
    // page close is not.
    if (!r.url().endsWith('/metrics'))
      problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });

  await step(`GET ${pageUrl} answers 200 with HTML`, async () => {
    const res = await page.goto(pageUrl, {waitUntil: 'load', timeout: STEP_MS});
    if (!res) fail('no response');
    if (res.status() !== 200) fail(`HTTP ${res.status()}`);
    const type = res.headers()['content-type'] ?? '';
    if (!type.startsWith('text/html')) fail(`Content-Type ${type}`);
  });

  await step('the page script loads (module scripts, style sheet)', async () => {
    try {
      await page.waitForSelector('body[data-ready="true"]',
                                 {state: 'attached', timeout: STEP_MS});
    } catch (_) {
      fail(`app.js never finished starting; ${problems.join('; ') || 'no error seen'}`);
    }
    const styled = await page.evaluate(() =>
      getComputedStyle(document.querySelector('.panel')).borderTopStyle);
    if (styled !== 'solid') fail('style.css not applied');
  });

  await step('the URL defaults to this server and connecting opens the socket', async () => {
    const url = await page.inputValue('#ws-url');
    const want = new URL(pageUrl);
    if (url !== `ws://${want.host}/api/ws`)
      fail(`default URL ${url}, want ws://${want.host}/api/ws`);
    if (token) {
      // Before the token is entered the admin endpoints refuse the page.
      await page.waitForFunction(() =>
        document.getElementById('features-error').textContent.length > 0,
      null, {timeout: STEP_MS});
      const refused = await page.textContent('#features-error');
      if (!refused.includes('401')) fail(`without a token: "${refused}"`);
      await page.fill('#token', token);
    }
    await page.click('#connect');
    try {
      await page.waitForSelector('#conn-state[data-state="open"]', {timeout: STEP_MS});
    } catch (_) {
      fail(`state "${await page.textContent('#conn-state')}": ` +
           `${await page.textContent('#conn-detail')}`);
    }
    await page.waitForFunction(() =>
      document.getElementById('session-info').textContent.includes('session'),
    null, {timeout: STEP_MS});
  });

  let ids = [];
  await step(`${TELESCOPES} telescopes appear online`, async () => {
    try {
      await page.waitForFunction((n) =>
        document.querySelectorAll('article.scope [data-state="online"]').length >= n,
      TELESCOPES, {timeout: STEP_MS});
    } catch (_) {
      const seen = await page.$$eval('article.scope', (a) =>
        a.map((s) => `${s.dataset.telescopeId}:${s.dataset.state}`));
      fail(`cards seen: [${seen.join(', ')}]`);
    }
    ids = await page.$$eval('article.scope', (a) =>
      a.map((s) => s.dataset.telescopeId));
    if (ids.length !== TELESCOPES) fail(`telescopes ${ids.join(', ')}`);
    const count = await page.textContent('#telescope-count');
    if (count !== String(TELESCOPES)) fail(`count shows ${count}`);
  });
  const tid = ids[0];

  await step(`subscribing to ${tid} fills its four status cards`, async () => {
    await page.click(byTestId(`subscribe-${tid}`));
    try {
      await page.waitForFunction((id) =>
        ['position', 'focus', 'imaging', 'system'].every((c) => {
          const card = document.querySelector(`[data-testid="status-${id}-${c}"]`);
          return card && Number(card.dataset.seq) > 0 &&
            card.querySelectorAll('dd').length > 0;
        }), tid, {timeout: STEP_MS});
    } catch (_) {
      fail(`cards: ${await page.textContent(byTestId(`telescope-${tid}`))}`);
    }
    const subs = await page.textContent(byTestId(`subscribed-${tid}`));
    if (!subs.includes('position') || !subs.includes('system'))
      fail(`subscription not acknowledged: "${subs}"`);
  });

  const target = skyTarget(-1.0, 40);
  let cmdId = '';
  await step(`goto ra=${target.ra} dec=${target.dec} shows progress and succeeds`, async () => {
    await page.selectOption('#cmd-telescope', tid);
    await page.selectOption('#cmd-action', 'goto');
    await page.fill('#param-ra', String(target.ra));
    await page.fill('#param-dec', String(target.dec));
    await page.fill('#param-target_name', 'browser test');
    const before = new Set(await page.$$eval('#commands > li',
      (l) => l.map((e) => e.dataset.commandId)));
    await page.click('#cmd-send');
    const err = (await page.textContent('#cmd-error')).trim();
    if (err) fail(`form refused: ${err}`);
    await page.waitForFunction((known) =>
      [...document.querySelectorAll('#commands > li')]
        .some((e) => !known.includes(e.dataset.commandId)),
    [...before], {timeout: STEP_MS});
    cmdId = await page.$$eval('#commands > li', (l, known) =>
      l.map((e) => e.dataset.commandId).find((id) => !known.includes(id)),
    [...before]);
    try {
      await page.waitForSelector(byTestId(`cmd-progress-${cmdId}`), {timeout: STEP_MS});
    } catch (_) {
      fail(`no command_progress for ${cmdId}: ` +
           `${await page.textContent(byTestId(`cmd-${cmdId}`))}`);
    }
    try {
      await page.waitForFunction((id) => {
        const s = document.querySelector(`[data-testid="cmd-state-${id}"]`);
        return s && (s.dataset.state === 'ok' || s.dataset.state === 'failed');
      }, cmdId, {timeout: GOTO_MS});
    } catch (_) {
      fail(`no command_response for ${cmdId} within ${GOTO_MS} ms: ` +
           `${await page.textContent(byTestId(`cmd-${cmdId}`))}`);
    }
    const state = await page.getAttribute(byTestId(`cmd-state-${cmdId}`), 'data-state');
    const result = await page.textContent(byTestId(`cmd-result-${cmdId}`));
    if (state !== 'ok') fail(`command ${cmdId} ended ${state}: ${result}`);
    if (!result.includes('goto_complete')) fail(`result: ${result}`);
    const progress = await page.textContent(byTestId(`cmd-progress-${cmdId}`));
    console.log(`  .. ${cmdId}: ${progress} / ${result}`);
  });

  await step('the position card follows the slew to the target', async () => {
    try {
      await page.waitForFunction(([id, ra]) => {
        const dd = document.querySelector(
          `[data-testid="status-${id}-position"] dd[data-field="ra"]`);
        return dd && Math.abs(parseFloat(dd.textContent) - ra) < 0.01;
      }, [tid, target.ra], {timeout: STEP_MS});
    } catch (_) {
      fail(await page.textContent(byTestId(`status-${tid}-position`)));
    }
  });

  await step('the frame log records both directions and filters', async () => {
    const dirs = await page.$$eval('#log > li', (l) => new Set(l.map((e) => e.dataset.dir)).size);
    if (dirs < 2) fail('no in/out frames in the log');
    await page.fill('#log-filter', cmdId);
    const shown = await page.$$eval('#log > li', (l) => l.map((e) => e.textContent));
    if (!shown.length || !shown.every((t) => t.includes(cmdId)))
      fail(`filter "${cmdId}" shows ${shown.length} entries, not all matching`);
    if (!shown.some((t) => t.includes('command_response')))
      fail('the filtered log lacks the command_response');
    await page.click('#log-pause');
    const paused = await page.getAttribute('#log-pause', 'aria-pressed');
    await page.click('#log-pause');
    if (paused !== 'true') fail('pause button did not toggle');
    await page.fill('#log-filter', '');
  });

  await step('the metrics chart shows a message rate', async () => {
    try {
      await page.waitForFunction(() =>
        document.getElementById('metric-rate').textContent !== '-',
      null, {timeout: STEP_MS});
    } catch (_) {
      fail(`no rate; error: "${await page.textContent('#metrics-error')}"`);
    }
  });

  await step('the feature flags panel shows the flags or the reason it cannot', async () => {
    // What the server says decides what the page must show.
    const res = await fetch(`${base}/api/features`, {headers: authHeaders})
      .catch((e) => ({status: 0, statusText: e.message}));
    if (res.status !== 200) {
      await page.click('#features-reload');
      await page.waitForFunction(() =>
        document.getElementById('features-error').textContent.length > 0,
      null, {timeout: STEP_MS});
      const text = await page.textContent('#features-error');
      if (res.status && !text.includes(String(res.status)))
        fail(`GET /api/features answers ${res.status} but the page says "${text}"`);
      console.log(`  .. flags unavailable, page says: ${text}`);
      return;
    }
    const {features} = await res.json();
    const names = Object.keys(features ?? {});
    if (!names.length) fail('GET /api/features lists no flag');
    await page.waitForFunction((n) =>
      n.every((f) => document.querySelector(`[data-testid="feature-${f}"]`)),
    names, {timeout: STEP_MS});
    for (const n of names) {
      const on = await page.isChecked(byTestId(`feature-${n}`));
      if (on !== Boolean(features[n])) fail(`feature ${n} shown ${on}`);
    }
    console.log(`  .. flags: ${names.join(', ')}`);
    // Toggle one through the page (PUT): either the server changes it and
    // the page shows the new value, or the server refuses (not admin) and
    // the page shows why and keeps the old value.
    const flag = names.includes('debug_logs') ? 'debug_logs' : names[0];
    const before = Boolean(features[flag]);
    await page.click(byTestId(`feature-${flag}`));
    await page.waitForFunction(([f, old]) => {
      const box = document.querySelector(`[data-testid="feature-${f}"]`);
      const err = document.getElementById('features-error').textContent;
      return box && !box.disabled && (box.checked !== old || err.length > 0);
    }, [flag, before], {timeout: STEP_MS});
    const now = (await (await fetch(`${base}/api/features`,
                                    {headers: authHeaders})).json()).features;
    const shown = await page.isChecked(byTestId(`feature-${flag}`));
    const err = await page.textContent('#features-error');
    if (now[flag] === before) {
      if (!err || shown !== before)
        fail(`PUT ${flag} did not change the server, page shows ${shown} / "${err}"`);
      if (!token && !/40[13]/.test(err)) fail(`refusal not shown: "${err}"`);
      console.log(`  .. toggling ${flag} refused, page says: ${err}`);
      return;
    }
    if (shown !== now[flag] || err) fail(`server ${flag}=${now[flag]}, page ${shown} / "${err}"`);
    await page.click(byTestId(`feature-${flag}`)); // and back
    await page.waitForFunction(([f, old]) =>
      document.querySelector(`[data-testid="feature-${f}"]`)?.checked === old,
    [flag, before], {timeout: STEP_MS});
    const back = (await (await fetch(`${base}/api/features`,
                                     {headers: authHeaders})).json()).features;
    if (back[flag] !== before) fail(`${flag} not restored on the server`);
    console.log(`  .. ${flag} toggled through the page and back`);
  });

  await step('no script errors', async () => {
    if (problems.length) fail(problems.join('\n'));
  });

  await step('screenshot saved', async () => {
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({path: join(artefacts, 'debug-page.png'), fullPage: true});
  });
}

async function main() {
  mkdirSync(artefacts, {recursive: true});
  const profile = mkdtempSync(join(tmpdir(), 'scopehub-chromium-'));
  let context = null;
  let rc = 1;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: {width: 1440, height: 1000},
      colorScheme: 'light',
      timeout: 60000,
    });
    const page = context.pages()[0] ?? await context.newPage();
    try {
      await run(page);
      console.log(`ok: debug page: every step passed`);
      rc = 0;
    } catch (e) {
      const what = e instanceof StepFailure ? e.message : (e.stack ?? String(e));
      console.error(`FAIL: ${stepName}: ${what}`);
      await page.screenshot({path: join(artefacts, 'debug-page-failure.png'),
                             fullPage: true}).catch(() => {});
    }
  } catch (e) {
    console.error(`FAIL: could not start ${CHROMIUM}: ${e.message}`);
  } finally {
    await context?.close().catch(() => {});
    rmSync(profile, {recursive: true, force: true});
  }
  process.exit(rc);
}

main();
