// <score-ticker> in real headless Chromium against the real scoreticker service, which polls a
// real local HTTP upstream serving recorded ESPN scoreboards. Run with ./run.sh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import AxeBuilder from '@axe-core/playwright';
import { ROOT, ARTIFACTS, FEED, POLL_MS, HEARTBEAT_S, startUpstream, startService, launchBrowser, open, setScore, setFinal, setStatus, sleep } from './harness.mjs';

const LIVE_ID = `${FEED}:401869412`; // PHI at BOS, 4th quarter, in the live playoff recording
let upstream, service, browser;

before(async () => {
  upstream = await startUpstream();
  service = await startService({ upstream });
  browser = await launchBrowser();
  // The first poll has happened once the API lists the games.
  for (let i = 0; i < 50 && !(await games()).length; i++) await sleep(100);
});
after(async () => {
  await browser?.close();
  await service?.stop();
  await upstream?.close();
});

const games = () => service.games();

/** A fresh browser context and a publisher page embedding the widget(s) in `body`. */
async function host(body, opts = {}, ctxOpts = {}) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 }, ...ctxOpts });
  const page = await open(context, upstream.page(service.port, body, opts));
  await page.waitForFunction(() => customElements.get('score-ticker'));
  return { context, page };
}
const tag = (attrs = '', id = 't') => `<score-ticker id="${id}" src="ws://127.0.0.1:PORT/ws" ${attrs}><a href="https://example.com/scores">Live scores</a></score-ticker>`;
const withPort = html => html.replaceAll('PORT', String(service.port));
const gameText = (page, id = 't') => page.locator(`#${id} [part~=game]`).first().textContent();
const scoreOf = (page, gameId, side, id = 't') =>
  page.evaluate(([id, gid, side]) => {
    for (const li of document.getElementById(id).shadowRoot.querySelectorAll('.ls:not([inert]) li')) {
      if (li.dataset.id === gid) return li.querySelector(`.${side} .sc`).textContent;
    }
    return null;
  }, [id, gameId, side]);
const transform = (page, id = 't') => page.evaluate(id => getComputedStyle(document.getElementById(id).shadowRoot.querySelector('.tr')).transform, id);
/** Roles and names as Chromium itself exposes them (ElementInternals roles included). */
async function axNodes(page) {
  const cdp = await page.context().newCDPSession(page);
  const { nodes } = await cdp.send('Accessibility.getFullAXTree');
  await cdp.detach();
  return nodes.filter(n => !n.ignored).map(n => `${n.role?.value} "${n.name?.value ?? ''}"`);
}
async function axeClean(page, what) {
  const axe = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
  const bad = axe.violations.map(v => `${v.id}: ${v.help} (${v.nodes.map(n => n.target.join(' ')).join(', ')})`);
  assert.deepEqual(bad, [], `axe violations (${what})`);
}
const noProblems = page => assert.deepEqual(page.problems, [], 'console errors, page errors or CSP violations');

test('the service serves the widget as written, within 8 KB gzip, on both URLs', async () => {
  const source = fs.readFileSync(path.join(ROOT, 'web/ticker.js'));
  for (const url of ['/ticker.js', '/ticker.v1.js']) {
    const r = await fetch(service.url + url);
    assert.equal(r.status, 200, url);
    assert.match(r.headers.get('content-type'), /javascript/);
    assert.ok(r.headers.get('etag'), 'ETag for caching');
    assert.ok(r.headers.get('cache-control'), 'Cache-Control for caching');
    const served = Buffer.from(await r.arrayBuffer());
    assert.ok(served.equals(source), `${url} is not web/ticker.js: the binary is stale, rebuild it (cargo build)`);
  }
  // Measured as the budget is defined: gzip -9 -c web/ticker.js | wc -c
  const gz = execFileSync('gzip', ['-9', '-c', path.join(ROOT, 'web/ticker.js')]).length;
  console.log(`# ticker.js: ${source.length} bytes, ${gz} bytes gzip -9`);
  assert.ok(gz <= 8192, `ticker.js is ${gz} bytes gzipped, over the 8 KB budget`);
});

test('web/ticker.js and web/ticker-fallback.js are the build of web/src (rebuilt with the pinned esbuild, byte for byte)', () => {
  // build.mjs --check builds both in memory and exits non-zero, naming the fix, when a committed file differs.
  const out = execFileSync('node', [path.join(ROOT, 'web/src/build.mjs'), '--check'], { encoding: 'utf8' });
  assert.match(out, /web\/ticker\.js and web\/ticker-fallback\.js are the build of web\/src/);
});

// web/README.md, "Two files": the SSE and poll transports are a second file, loaded only when
// WebSocket fails (or transport="poll"), pinned by the name and SHA-384 baked into ticker.js.
test('the fallback file is within 3 KB gzip, pinned by ticker.js, and served content-addressed like it', async () => {
  const fallback = fs.readFileSync(path.join(ROOT, 'web/ticker-fallback.js'));
  const gz = execFileSync('gzip', ['-9', '-c', path.join(ROOT, 'web/ticker-fallback.js')]).length;
  console.log(`# ticker-fallback.js: ${fallback.length} bytes, ${gz} bytes gzip -9`);
  assert.ok(gz <= 3072, `ticker-fallback.js is ${gz} bytes gzipped, over its 3 KB budget`);
  const digest = (await import('node:crypto')).createHash('sha384').update(fallback);
  const name = `ticker-fallback.${digest.copy().digest('hex').slice(0, 16)}.js`, sri = 'sha384-' + digest.digest('base64');
  const main = fs.readFileSync(path.join(ROOT, 'web/ticker.js'), 'utf8');
  assert.ok(main.includes(`"${name}"`), `ticker.js loads ${name}`);
  assert.ok(main.includes(`"${sri}"`), 'ticker.js pins it with its SHA-384');
  const r = await fetch(`${service.url}/${name}`, { headers: { 'accept-encoding': 'br' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal(r.headers.get('access-control-allow-origin'), '*', 'CORS: ticker.js loads it with crossorigin');
  assert.equal(r.headers.get('content-encoding'), 'br');
  assert.ok(Buffer.from(await r.arrayBuffer()).equals(fallback), `/${name} serves this fallback: the binary is stale, rebuild it (cargo build)`);
});

// CONVENTIONS.md: publishers pin the widget with Subresource Integrity. A cross-origin script with
// `integrity` is fetched in CORS mode, so the server answers widget files with Access-Control-Allow-Origin;
// and the pinned URL must never change content: /api/v1/widget names the content-addressed one.
test('a publisher can pin the content-addressed widget URL with Subresource Integrity', async () => {
  const info = await (await fetch(service.url + '/api/v1/widget')).json();
  assert.match(info.url, /^\/ticker\.[0-9a-f]{16}\.js$/);
  const r = await fetch(service.url + info.url);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
  const body = Buffer.from(await r.arrayBuffer());
  assert.ok(body.equals(fs.readFileSync(path.join(ROOT, 'web/ticker.js'))), 'the pinned URL serves this widget');
  const sri = 'sha384-' + (await import('node:crypto')).createHash('sha384').update(body).digest('base64');
  assert.equal(info.integrity, sri, 'the announced hash is the hash of what is served');
  const pinned = integrity => upstream.page(service.port,
    `<script src="${service.url}${info.url}" integrity="${integrity}" crossorigin="anonymous" async></script>` + withPort(tag('mode="strip"')),
    { script: false });
  const context = await browser.newContext();
  try {
    const page = await open(context, pinned(info.integrity));
    await page.locator('#t [part~=status]').getByText('Live').waitFor();
    noProblems(page);
    // The pin is enforced: a file that does not match its hash never runs.
    const tampered = await open(context, pinned('sha384-' + Buffer.alloc(48).toString('base64')));
    await tampered.waitForLoadState('load');
    assert.equal(await tampered.evaluate(() => !!customElements.get('score-ticker')), false);
    assert.ok(tampered.problems.some(p => /integrity/i.test(p)), 'the browser reports the integrity failure');
  } finally {
    await context.close();
  }
});

test('renders the snapshot, with links from the href template, and reports live', async () => {
  const { context, page } = await host(withPort(tag('topics="league:nba" href="https://news.example/game/{id}?v={away}-{home}"')));
  await page.locator('#t [part~=status]').getByText('Live').waitFor();
  const items = page.locator('#t .ls:not([inert]) [part~=game]');
  await items.first().waitFor();
  assert.equal(await items.count(), (await games()).length, 'one item per game of the snapshot');
  const live = page.locator('#t .ls:not([inert]) .s-live').first();
  assert.match(await live.textContent(), /PHI.*92.*BOS.*87.*8:41 · 4th/s);
  assert.equal(await live.locator('a').getAttribute('href'), `https://news.example/game/${encodeURIComponent(LIVE_ID)}?v=PHI-BOS`);
  // A final shows its winner by weight and in words, not by colour alone.
  const fin = page.locator('#t .ls:not([inert]) .s-final').first();
  assert.match(await fin.textContent(), /Final/);
  assert.equal(await fin.locator('[part~=winner]').count(), 1);
  assert.match(await fin.locator('[part~=winner] .sr').textContent(), /winner/);
  // The light-DOM fallback link is not rendered once the element is upgraded.
  assert.equal(await page.locator('#t > a').isVisible(), false);
  // Accessible name and roles.
  const ax = await axNodes(page);
  for (const node of ['region "Live scores"', 'marquee "Live scores"', 'button "Pause scores"']) assert.ok(ax.includes(node), node);
  noProblems(page);
  await context.close();
});

test('an upstream score change reaches the DOM within one poll interval plus a second', async () => {
  const { context, page } = await host(withPort(tag('mode="strip"')));
  await page.locator('#t .s-live').first().waitFor();
  const events = page.evaluate(() => new Promise(r => document.getElementById('t').addEventListener('ticker:update', e => e.detail.game && r(e.detail), { once: false })));
  setScore(upstream.doc, 0, 'home', 90);
  const t0 = Date.now();
  await page.waitForFunction(id => {
    for (const li of document.getElementById('t').shadowRoot.querySelectorAll('.ls:not([inert]) li')) {
      if (li.dataset.id === id) return li.querySelector('.home .sc').textContent === '90';
    }
  }, LIVE_ID, { timeout: POLL_MS + 1000, polling: 50 });
  const ms = Date.now() - t0;
  console.log(`# score change reached the DOM in ${ms} ms`);
  const detail = await events;
  assert.equal(detail.game.id, LIVE_ID);
  assert.ok(detail.changes.includes('score'), 'ticker:update names the change');
  // The changed score is highlighted (and not by motion).
  assert.equal(await page.locator('#t .s-live .home .sc.hit').count(), 1);
  noProblems(page);
  await context.close();
});

test('changing the topics attribute unsubscribes and subscribes on the same socket', async () => {
  const { context, page } = await host(withPort(tag('mode="strip" topics="all"')));
  const sent = [];
  page.on('websocket', ws => ws.on('framesent', f => sent.push(JSON.parse(f.payload))));
  await page.reload();
  await page.locator('#t .s-final').first().waitFor();
  await page.locator('#t').evaluate(t => t.setAttribute('topics', 'team:nba:bos'));
  await page.waitForFunction(() => {
    const ls = [...document.getElementById('t').shadowRoot.querySelectorAll('.ls:not([inert]) li')];
    return ls.length && ls.every(li => /BOS/.test(li.textContent));
  });
  assert.deepEqual(sent.map(m => m.type), ['subscribe', 'unsubscribe', 'subscribe']);
  assert.deepEqual(sent[1].topics, ['all']);
  assert.deepEqual(sent[2].topics, ['team:nba:bos']);
  noProblems(page);
  await context.close();
});

test('the pause control is first in tab order, works from the keyboard and stops the scroll', async () => {
  const { context, page } = await host(withPort(tag('mode="scroll"') + '<p><button id="after">After</button></p>'));
  await page.locator('#t .s-live').first().waitFor();
  await page.waitForFunction(() => document.getElementById('t').shadowRoot.getAnimations().some(a => a.playState === 'running'));
  const a = await transform(page); await sleep(400);
  assert.notEqual(await transform(page), a, 'the ticker scrolls');

  await page.keyboard.press('Tab');
  const focused = () => page.evaluate(() => document.activeElement.id + '/' + (document.activeElement.shadowRoot?.activeElement?.getAttribute('part') || ''));
  assert.equal(await focused(), 't/control pause', 'Tab reaches the pause button first');
  const pp = page.locator('#t [part~=pause]');
  assert.equal(await pp.getAttribute('aria-pressed'), 'false');
  const box = await pp.boundingBox();
  assert.ok(box.width >= 24 && box.height >= 24, 'target at least 24×24 px');

  await page.keyboard.press('Space');
  assert.equal(await pp.getAttribute('aria-pressed'), 'true');
  await page.keyboard.press('Tab'); // focus leaves the widget: only the button holds it paused now
  assert.equal(await focused(), 'after/');
  const b = await transform(page); await sleep(500);
  assert.equal(await transform(page), b, 'paused: no movement');

  await page.keyboard.press('Shift+Tab');
  assert.equal(await focused(), 't/control pause');
  await page.keyboard.press('Enter');
  assert.equal(await pp.getAttribute('aria-pressed'), 'false');
  await page.keyboard.press('Tab');
  const c = await transform(page); await sleep(400);
  assert.notEqual(await transform(page), c, 'playing again');
  noProblems(page);
  await context.close();
});

test('with reduced motion there is no animation: a static row with previous/next', async () => {
  const { context, page } = await host(withPort(tag('mode="scroll"')), {}, { reducedMotion: 'reduce' });
  await page.locator('#t .s-live').first().waitFor();
  await sleep(300);
  assert.equal(await page.evaluate(() => document.getElementById('t').shadowRoot.getAnimations().length), 0);
  assert.equal(await transform(page), 'none');
  assert.equal(await page.locator('#t .ls[inert]').isVisible(), false, 'no duplicate copy');
  const next = page.locator('#t [part~=next]');
  assert.equal(await next.isVisible(), true);
  const left = () => page.locator('#t [part~=viewport]').evaluate(v => v.scrollLeft);
  assert.equal(await left(), 0);
  await next.click();
  assert.ok(await left() > 0, 'next shows the next games');
  assert.equal(await page.locator('#t [part~=prev]').getAttribute('aria-disabled'), 'false');
  // A score change is highlighted without any animation.
  setScore(upstream.doc, 0, 'away', 95);
  await page.waitForFunction(() => document.getElementById('t').shadowRoot.querySelector('.hit'), null, { timeout: POLL_MS + 1000 });
  assert.equal(await page.evaluate(() => document.getElementById('t').shadowRoot.getAnimations().length), 0);
  noProblems(page);
  await context.close();
});

test('hostile host CSS does not break it', async () => {
  const css = `*{display:none!important;font-size:90px!important;line-height:5!important;letter-spacing:.5em!important;
    color:#f0f!important;text-transform:uppercase!important;font-family:serif!important;visibility:hidden!important}
    html,body,score-ticker{display:block!important;visibility:visible!important}
    div,span,ul,li,button{display:none!important;border:30px solid red!important}
    html{font-size:60px!important}`;
  const { context, page } = await host(withPort(tag('mode="strip"')), { css });
  await page.locator('#t .s-live').first().waitFor();
  const box = await page.locator('#t').boundingBox();
  assert.equal(Math.round(box.height), 45, 'stable height: 3em of 15px');
  const live = page.locator('#t .ls:not([inert]) .s-live').first();
  assert.equal(await live.isVisible(), true);
  const s = await live.locator('.ab').first().evaluate(e => { const c = getComputedStyle(e); return [c.fontSize, c.color, c.textTransform, c.letterSpacing, c.visibility]; });
  assert.deepEqual(s, ['15px', 'rgb(22, 24, 29)', 'none', 'normal', 'visible']);
  const lb = await live.boundingBox();
  assert.ok(lb.y >= box.y && lb.y + lb.height <= box.y + box.height, 'the game sits inside the widget');
  assert.equal(await page.locator('#t > a').isVisible(), false);
  await page.locator('#t').screenshot({ path: path.join(ARTIFACTS, 'hostile-css.png') });
  noProblems(page);
  await context.close();
});

test('lang="es" speaks Spanish', async () => {
  const { context, page } = await host(withPort(tag('mode="list" lang="es"')), { lang: 'en' });
  await page.locator('#t [part~=status]').getByText('En directo').waitFor();
  assert.equal(await page.locator('#t [part~=pause]').getAttribute('aria-label'), 'Pausar marcadores');
  assert.ok((await axNodes(page)).includes('region "Marcadores en directo"'));
  assert.match(await page.locator('#t .s-live [part~=state]').first().textContent(), /4\.º/);
  assert.match(await page.locator('#t .s-final .w .sr').first().textContent(), /ganador/);
  // The scheduled game's start goes through Intl in Spanish: "5 jun" (or "6 jun", by time zone).
  assert.match(await page.locator('#t .s-scheduled [part~=state]').first().textContent(), /jun/);
  await page.locator('#t').screenshot({ path: path.join(ARTIFACTS, 'list-es.png') });
  noProblems(page);
  await context.close();
});

test('the iframe embed renders, and /embed reads its options from the query string', async () => {
  const q = 'topics=league:nba&theme=dark&lang=es&mode=strip';
  const { context, page } = await host(`<iframe id="f" src="${service.url}/embed?${q}" title="Marcadores"></iframe>`,
    { frames: true, css: '#f{border:0;width:900px;height:48px}' });
  const frame = page.frameLocator('#f');
  await frame.locator('score-ticker .s-live').first().waitFor();
  const t = frame.locator('score-ticker');
  assert.equal(await t.getAttribute('theme'), 'dark');
  assert.equal(await t.getAttribute('topics'), 'league:nba');
  assert.equal(await t.getAttribute('src'), `ws://127.0.0.1:${service.port}/ws`);
  await frame.locator('score-ticker [part~=status]').getByText('En directo').waitFor();
  await page.locator('#f').screenshot({ path: path.join(ARTIFACTS, 'embed-iframe.png') });
  noProblems(page);
  await context.close();
});

test('the demo page shows every mode and theme on one shared socket, with the embed snippet', async () => {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const sockets = [];
  page.on('websocket', ws => sockets.push(ws.url()));
  await page.goto(service.url + '/');
  await page.locator('score-ticker[mode=list] .s-live').first().waitFor();
  const n = await page.locator('score-ticker').count();
  assert.ok(n >= 7, 'several widgets');
  for (let i = 0; i < n; i++) await page.locator('score-ticker').nth(i).locator('[part~=game]').first().waitFor();
  assert.deepEqual(sockets, [service.ws], 'one socket for all widgets');
  assert.match(await page.locator('#snippet').textContent(), new RegExp(`src="${service.url}/ticker.js"[\\s\\S]*src="${service.ws}"`));
  await page.screenshot({ path: path.join(ARTIFACTS, 'demo-page.png'), fullPage: true });
  await axeClean(page, 'demo page');
  await context.close();
});

test('screenshots of each mode and theme, and an accessibility scan of each theme', async () => {
  const modes = ['scroll', 'strip', 'list'], themes = ['light', 'dark'];
  const html = withPort(themes.map(th => modes.map(m =>
    `<div class="${m}">${tag(`mode="${m}" theme="${th}" href="https://news.example/g/{id}"`, `${m}-${th}`)}</div>`).join('')).join(''));
  for (const scheme of ['light', 'dark']) {
    const css = 'div{margin:12px 0}.list{width:340px}';
    const { context, page } = await host(html, { css }, { colorScheme: scheme, viewport: { width: 1000, height: 1200 } });
    await page.locator('#list-dark .s-live').first().waitFor();
    await sleep(300);
    if (scheme === 'light') {
      for (const th of themes) for (const m of modes) {
        await page.locator(`#${m}-${th}`).screenshot({ path: path.join(ARTIFACTS, `${m}-${th}.png`) });
      }
    }
    await axeClean(page, `${scheme} scheme`);
    noProblems(page);
    await context.close();
  }
});

test('announce: a polite status region tells finals (not baskets), debounced, and is silent while paused', async () => {
  const { context, page } = await host(withPort(tag('mode="strip" announce')));
  await page.locator('#t .s-live').first().waitFor();
  const region = page.locator('#t [role=status]');
  const live = structuredClone(upstream.doc.events[0].status);
  try {
    setScore(upstream.doc, 0, 'home', 92); // a basket: never announced
    await page.waitForFunction(() => document.getElementById('t').shadowRoot.querySelector('.s-live .home .sc.hit'), null, { timeout: POLL_MS + 1000 });
    await page.locator('#t [part~=pause]').click();
    setFinal(upstream.doc, 0); // while paused: nothing is said, and the ticker does not change
    await sleep(POLL_MS + 2500);
    assert.equal(await region.textContent(), '');
    assert.equal(await page.locator('#t .s-live').count(), 1, 'a paused ticker does not auto-update');
    await page.locator('#t [part~=pause]').click();
    await page.locator('#t .s-final').first().waitFor();
    setStatus(upstream.doc, 0, live);
    await page.locator('#t .s-live').first().waitFor({ timeout: POLL_MS + 1000 });
    setFinal(upstream.doc, 0);
    await page.waitForFunction(() => document.getElementById('t').shadowRoot.querySelector('[role=status]').textContent, null, { timeout: POLL_MS + 4000 });
    assert.equal(await region.textContent(), 'Philadelphia 76ers 95, Boston Celtics 92, Final');
  } finally {
    setStatus(upstream.doc, 0, live);
  }
  await page.locator('#t .s-live').first().waitFor({ timeout: POLL_MS + 1000 });
  noProblems(page);
  await context.close();
});

test('the socket closes on pagehide and after a minute in a hidden tab, and reopens at once on return', async () => {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', e => page.problems.push('pageerror: ' + e.message));
  await page.clock.install(); // lets the test skip the hidden minute
  let opened = 0, closed = 0;
  page.on('websocket', ws => { opened++; ws.on('close', () => closed++); });
  await page.goto(upstream.page(service.port, withPort(tag('mode="scroll"'))));
  const status = page.locator('#t [part~=status]');
  await status.getByText('Live').waitFor();
  await page.waitForFunction(() => document.getElementById('t').shadowRoot.getAnimations()[0]?.playState === 'running');
  const until = (f, what) => page.waitForFunction(f, null, { timeout: 3000 }).catch(() => assert.fail(what));
  const counts = () => [opened, closed];

  await page.evaluate(() => dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true })));
  for (let i = 0; i < 30 && closed < 1; i++) await sleep(100);
  assert.deepEqual(counts(), [1, 1], 'closed on pagehide, so the page can enter the back/forward cache');
  const t0 = Date.now();
  await page.evaluate(() => dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true })));
  await status.getByText('Live').waitFor();
  assert.ok(Date.now() - t0 < 1500, 'reconnected at once, without backoff');
  assert.equal(opened, 2);

  const setHidden = hidden => page.evaluate(h => {
    Object.defineProperty(document, 'hidden', { value: h, configurable: true });
    Object.defineProperty(document, 'visibilityState', { value: h ? 'hidden' : 'visible', configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
  await setHidden(true);
  await until(() => document.getElementById('t').shadowRoot.getAnimations()[0]?.playState === 'paused', 'no scrolling in a hidden tab');
  await sleep(500);
  assert.deepEqual(counts(), [2, 1], 'a short absence keeps the socket');
  await page.clock.fastForward(61_000);
  for (let i = 0; i < 30 && closed < 2; i++) await sleep(100);
  assert.deepEqual(counts(), [2, 2], 'closed after a minute hidden');
  await setHidden(false);
  await status.getByText('Live').waitFor({ timeout: 1500 });
  assert.equal(opened, 3, 'reopened at once when visible');
  await until(() => document.getElementById('t').shadowRoot.getAnimations()[0]?.playState === 'running', 'scrolling again');
  noProblems(page);
  await context.close();
});

test(`a silent socket is given up after heartbeat + 10 s (${HEARTBEAT_S + 10} s), and the widget reconnects`, async () => {
  const { context, page } = await host(withPort(tag('mode="strip"')));
  const status = page.locator('#t [part~=status]');
  await status.getByText('Live').waitFor();
  service.proc.kill('SIGSTOP'); // the TCP connection stays up, but nothing more comes through it
  const t0 = Date.now();
  try {
    await status.getByText('Reconnecting').waitFor({ timeout: (HEARTBEAT_S + 10 + 5) * 1000 });
    const s = (Date.now() - t0) / 1000;
    console.log(`# silence noticed after ${s.toFixed(1)} s`);
    assert.ok(s >= 10 - 0.5, `gave up after ${s} s, before heartbeat + 10 s of silence`);
  } finally {
    service.proc.kill('SIGCONT');
  }
  await status.getByText('Live', { exact: true }).waitFor({ timeout: 30e3 });
  page.problems = page.problems.filter(p => !/WebSocket/.test(p)); // the abandoned handshake
  noProblems(page);
  await context.close();
});

test('killing and restarting the service: "reconnecting", then live again with what changed meanwhile', async () => {
  const { context, page } = await host(withPort(tag('mode="strip"')));
  await page.locator('#t [part~=status]').getByText('Live').waitFor();
  await page.locator('#t .s-live').first().waitFor();
  const statuses = [];
  await page.exposeFunction('recordStatus', s => statuses.push(s));
  await page.locator('#t').evaluate(t => t.addEventListener('ticker:status', e => window.recordStatus(e.detail.status)));

  await service.stop('SIGKILL');
  await page.locator('#t [part~=status]').getByText('Reconnecting').waitFor({ timeout: 5000 });
  assert.match(await page.locator('#t [part~=status]').textContent(), /last updated \d\d:\d\d/);
  assert.ok(await page.locator('#t .s-live').first().isVisible(), 'stale scores stay on screen');

  setScore(upstream.doc, 0, 'home', 101); // while the service is down
  setFinal(upstream.doc, 0);
  service = await startService({ upstream, port: service.port, dir: service.dir });
  const t0 = Date.now();
  await page.locator('#t [part~=status]').getByText('Live', { exact: true }).waitFor({ timeout: 30e3 });
  await page.waitForFunction(id => {
    for (const li of document.getElementById('t').shadowRoot.querySelectorAll('.ls:not([inert]) li')) {
      if (li.dataset.id === id) return li.querySelector('.home .sc').textContent === '101' && /Final/.test(li.textContent);
    }
  }, LIVE_ID, { timeout: 10e3 });
  console.log(`# back live ${Date.now() - t0} ms after the restart; statuses: ${statuses.join(' → ')}`);
  assert.deepEqual([...new Set(statuses)], ['reconnecting', 'live']);
  // the refused reconnects (WebSocket, and SSE if it fell back meanwhile)
  page.problems = page.problems.filter(p => !/WebSocket connection to .* failed|ERR_CONNECTION_REFUSED|EventSource/.test(p));
  noProblems(page);
  await context.close();
});
