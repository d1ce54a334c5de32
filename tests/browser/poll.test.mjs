// The widget's third transport, in real headless Chromium against the real service: polling the
// snapshot document (/api/v1/games) with If-None-Match, behind a proxy that refuses both
// WebSocket and SSE, and on request with transport="poll". Run with ./run.sh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { FEED, POLL_MS, startUpstream, startService, startProxy, launchBrowser, open, setScore } from './harness.mjs';

const LIVE_ID = `${FEED}:401869412`; // PHI at BOS, in the live playoff recording
let upstream, service, browser;

before(async () => {
  upstream = await startUpstream();
  service = await startService({ upstream });
  browser = await launchBrowser();
  for (let i = 0; i < 50 && !(await service.games()).length; i++) await new Promise(r => setTimeout(r, 100));
});
after(async () => {
  await browser?.close();
  await service?.stop();
  await upstream?.close();
});

/** A page whose widget events are recorded on `window.statuses` and `window.updates`. */
async function widgetPage(proxy, attributes) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 400 } });
  await context.addInitScript(() => {
    window.statuses = [];
    window.updates = [];
    document.addEventListener('ticker:status', e => window.statuses.push(e.detail));
    document.addEventListener('ticker:update', e => window.updates.push(e.detail));
  });
  const page = await open(context, upstream.page(proxy.port,
    `<score-ticker id="t" src="${proxy.ws}" mode="strip" ${attributes}><a href="https://example.com/scores">Live scores</a></score-ticker>`));
  return { context, page };
}
const homeScore = (page, score, timeout) => page.waitForFunction(([id, score]) => {
  for (const li of document.getElementById('t').shadowRoot.querySelectorAll('.ls:not([inert]) li')) {
    if (li.dataset.id === id) return li.querySelector('.home .sc').textContent === String(score);
  }
}, [LIVE_ID, score], { timeout, polling: 50 });
const polls = proxy => proxy.log.filter(e => /^GET \/api\/v1\/games/.test(e.line));
const status = entry => +entry.answer.slice(9, 12);
const ifNoneMatch = entry => entry.headers.find(h => /^if-none-match:/i.test(h))?.replace(/^[^:]*: */, '');
/** Waits (event-driven on the proxy's log, generously) until `predicate` holds. */
async function until(predicate, what, ms = 20e3) {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (predicate()) return;
    await new Promise(r => setTimeout(r, 100));
  }
  assert.fail(`never: ${what}`);
}
// Failures the tests cause on purpose: refused upgrades, refused event streams.
const expected = p => /WebSocket connection to .* failed|EventSource|status of 403|ERR_EMPTY_RESPONSE|ERR_CONNECTION_(RESET|CLOSED)/.test(p);

/** A changed score arrives by polling: in the DOM, and as a ticker:update naming the game. */
async function seesScoreChange(page, score) {
  setScore(upstream.doc, 0, 'home', score);
  await homeScore(page, score, POLL_MS + 10e3);
  const update = (await page.evaluate(() => window.updates)).find(u => u.game?.id === LIVE_ID && u.game.home.score === score);
  assert.ok(update, 'a ticker:update for the changed game');
  assert.ok(update.changes.includes('score'), `its changes name the score: ${update.changes}`);
  assert.equal(update.removed, false);
}

/** Later polls carry the last ETag, and the service answers 304 while nothing changed. */
function assertConditional(proxy) {
  const all = polls(proxy), conditional = all.filter(e => ifNoneMatch(e));
  assert.ok(conditional.length >= 2, `polls with If-None-Match: ${conditional.length} of ${all.length}`);
  for (const e of conditional) assert.match(ifNoneMatch(e), /^"[0-9a-z]+-\d+"$/, 'the ETag the service sent');
  assert.ok(all.some(e => status(e) === 304), `some polls answered 304: ${all.map(status)}`);
  assert.ok(all.filter(e => status(e) === 200).every(e => /^etag:/im.test(e.answer)), 'every 200 has an ETag');
}

test('behind a proxy that refuses WebSocket and SSE the widget goes live by polling, sees changes with If-None-Match, and returns to WebSocket', async () => {
  const proxy = await startProxy(service.port, { refuse: true, refuseSse: true });
  const { context, page } = await widgetPage(proxy, '');
  try {
    const t0 = Date.now();
    await page.locator('#t[transport=poll]').waitFor({ timeout: 20e3 });
    await page.locator('#t [part~=status]').getByText('Live', { exact: true }).waitFor({ timeout: 10e3 });
    console.log(`# live by polling ${Date.now() - t0} ms after the page loaded`);
    const upgrades = proxy.log.filter(e => e.upgrade), streams = proxy.log.filter(e => /^GET \/sse/.test(e.line));
    assert.ok(upgrades.length >= 2 && upgrades.every(e => e.refused), 'two refused upgrades first');
    assert.ok(streams.length >= 1 && streams.every(e => e.refused), 'then a refused event stream');
    assert.match(polls(proxy)[0].line, /^GET \/api\/v1\/games\?topics=all HTTP\/1\.1$/, 'the canonical snapshot URL at the same host');
    const statuses = await page.evaluate(() => window.statuses);
    assert.deepEqual(statuses.at(-1), { status: 'live', lastUpdate: statuses.at(-1).lastUpdate, transport: 'poll' });
    await page.locator('#t .s-live').first().waitFor();

    await seesScoreChange(page, 101);
    await until(() => polls(proxy).filter(e => status(e) === 304).length >= 2, 'two polls answered 304');
    assertConditional(proxy);

    // WebSocket and SSE keep being tried in the background; once upgrades get through, the widget
    // moves to WebSocket, resuming where polling left off, and stops polling.
    const probes = () => proxy.log.filter(e => e.upgrade).length;
    await until(() => probes() > upgrades.length, 'WebSocket retried while polling', 30e3);
    assert.equal(await page.locator('#t').getAttribute('transport'), 'poll', 'a refused retry leaves it polling');
    proxy.refuse = false;
    const t1 = Date.now();
    await page.locator('#t[transport=websocket]').waitFor({ timeout: 45e3 });
    console.log(`# back on WebSocket ${Date.now() - t1} ms after upgrades were let through`);
    assert.equal((await page.evaluate(() => window.statuses)).at(-1).transport, 'websocket');
    const polled = polls(proxy).length;
    setScore(upstream.doc, 0, 'home', 104);
    await homeScore(page, 104, POLL_MS + 10e3);
    await new Promise(r => setTimeout(r, 2500)); // more than one poll interval (1 s)
    assert.ok(polls(proxy).length <= polled + 1, 'polling stopped (at most the poll in flight finished)');
    page.problems = page.problems.filter(p => !expected(p));
    assert.deepEqual(page.problems, [], 'console errors, page errors or CSP violations');
  } finally {
    await context.close();
    await proxy.close();
  }
});

test('transport="poll" polls from the start, never tries WebSocket or SSE, and asks the canonical URL', async () => {
  const proxy = await startProxy(service.port, { refuse: false });
  // A non-canonical spelling of the topics: the service redirects it once, and the widget asks
  // the canonical URL from then on.
  const { context, page } = await widgetPage(proxy, 'transport="poll" topics="team:nba:bos league:NBA"');
  try {
    await page.locator('#t [part~=status]').getByText('Live', { exact: true }).waitFor({ timeout: 10e3 });
    assert.equal(await page.locator('#t').getAttribute('transport'), 'poll');
    await page.locator('#t .s-live').first().waitFor();
    const snapshot = (await page.evaluate(() => window.updates)).find(u => u.snapshot);
    assert.ok(snapshot?.games.some(g => g.id === LIVE_ID), 'the first document is reported as a snapshot');
    await seesScoreChange(page, 107);
    await until(() => polls(proxy).filter(e => status(e) === 304).length >= 2, 'two polls answered 304');
    assertConditional(proxy);
    const lines = polls(proxy).map(e => e.line.split(' ')[1]);
    assert.equal(lines[0], '/api/v1/games?topics=team:nba:bos,league:NBA');
    assert.equal(status(polls(proxy)[0]), 301);
    assert.ok(lines.slice(1).every(l => l === '/api/v1/games?topics=league:nba,team:nba:BOS'), `then only the canonical URL: ${[...new Set(lines)]}`);
    assert.equal(proxy.log.filter(e => e.upgrade || /^GET \/sse/.test(e.line)).length, 0, 'no WebSocket, no SSE');
    assert.ok((await page.evaluate(() => window.statuses)).every(s => s.transport === 'poll'));
    page.problems = page.problems.filter(p => !expected(p));
    assert.deepEqual(page.problems, [], 'console errors, page errors or CSP violations');
  } finally {
    await context.close();
    await proxy.close();
  }
});
