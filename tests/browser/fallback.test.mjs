// Beyond WebSocket, in real headless Chromium against the real service: the widget's SSE fallback
// behind a proxy that refuses WebSocket upgrades, and the /diagnostics page on a healthy path and
// through that proxy. Run with ./run.sh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { ARTIFACTS, FEED, POLL_MS, startUpstream, startService, startProxy, launchBrowser, open, setScore } from './harness.mjs';

const LIVE_ID = `${FEED}:401869412`; // PHI at BOS, in the live playoff recording
let upstream, service, browser;

before(async () => {
  upstream = await startUpstream();
  service = await startService({ upstream });
  browser = await launchBrowser();
  for (let i = 0; i < 50 && !(await games()).length; i++) await new Promise(r => setTimeout(r, 100));
});
after(async () => {
  await browser?.close();
  await service?.stop();
  await upstream?.close();
});

const games = () => service.games();
/** Waits until the service itself holds `score` for the live game's home side. */
async function serviceHas(score) {
  for (let i = 0; i < 50; i++) {
    if ((await games()).find(g => g.id === LIVE_ID)?.home.score === score) return;
    await new Promise(r => setTimeout(r, 100));
  }
  assert.fail(`the service never published home score ${score}`);
}
const homeScore = (page, score, timeout) => page.waitForFunction(([id, score]) => {
  for (const li of document.getElementById('t').shadowRoot.querySelectorAll('.ls:not([inert]) li')) {
    if (li.dataset.id === id) return li.querySelector('.home .sc').textContent === String(score);
  }
}, [LIVE_ID, score], { timeout, polling: 50 });
/** The JSON objects of the `data:` lines in what the service answered on one /sse request, as far
 *  as complete events have arrived. The answer is raw HTTP: the body is chunked, and the service
 *  writes an event as several chunks (its head, the shared frame, the blank line), so the chunk
 *  framing is taken off before the events are read. */
function sseData(entry) {
  const raw = entry.answer, headEnd = raw.indexOf('\r\n\r\n');
  let body = raw.slice(headEnd + 4);
  if (/^transfer-encoding: *chunked/im.test(raw.slice(0, headEnd))) {
    const bytes = Buffer.from(body), plain = []; // chunk sizes count bytes
    for (let at = 0; ;) {
      const lineEnd = bytes.indexOf('\r\n', at), size = parseInt(bytes.subarray(at, lineEnd).toString(), 16);
      if (lineEnd < 0 || !(size > 0) || bytes.length < lineEnd + 2 + size) break; // the last, or not all here yet
      plain.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 4 + size;
    }
    body = Buffer.concat(plain).toString();
  }
  return body.split('\n\n').slice(0, -1).flatMap(event => [...event.matchAll(/^data:(.*)$/mg)].map(m => JSON.parse(m[1])));
}
// Failures the tests cause on purpose: refused upgrades and cut event streams.
const expected = p => /WebSocket connection to .* failed|EventSource|ERR_EMPTY_RESPONSE|ERR_CONNECTION_(RESET|CLOSED)|net::ERR_INCOMPLETE_CHUNKED_ENCODING/.test(p);

test('behind a proxy that refuses WebSocket upgrades the widget goes live over SSE, resumes without a gap, and returns to WebSocket', async () => {
  const proxy = await startProxy(service.port, { refuse: true });
  const context = await browser.newContext({ viewport: { width: 1000, height: 400 } });
  await context.addInitScript(() => {
    window.statuses = [];
    document.addEventListener('ticker:status', e => window.statuses.push(e.detail));
  });
  const page = await open(context, upstream.page(proxy.port,
    `<score-ticker id="t" src="${proxy.ws}" mode="strip"><a href="https://example.com/scores">Live scores</a></score-ticker>`));
  try {
    const t0 = Date.now();
    await page.locator('#t[transport=sse]').waitFor({ timeout: 10e3 });
    await page.locator('#t [part~=status]').getByText('Live', { exact: true }).waitFor();
    console.log(`# live over SSE ${Date.now() - t0} ms after the page loaded`);
    const upgrades = proxy.log.filter(e => e.upgrade);
    assert.ok(upgrades.length >= 2 && upgrades.every(e => e.refused), 'two refused upgrades before falling back');
    const statuses = await page.evaluate(() => window.statuses);
    assert.deepEqual(statuses.at(-1), { status: 'live', lastUpdate: statuses.at(-1).lastUpdate, transport: 'sse' });
    assert.ok(statuses.some(s => s.status === 'reconnecting' && s.transport === 'websocket'), 'it said reconnecting while WebSocket failed');
    const first = proxy.log.find(e => /^GET \/sse\?/.test(e.line));
    assert.match(first.line, /^GET \/sse\?topics=all HTTP\/1\.1$/, 'SSE at the same host, with the topics');

    // An upstream change arrives over SSE.
    setScore(upstream.doc, 0, 'home', 90);
    await homeScore(page, 90, POLL_MS + 1500);

    // The stream is cut (and the network held) while a change happens: EventSource comes back with
    // Last-Event-ID, and the service replays the missed event rather than a snapshot: no gap.
    const seen = proxy.log.length;
    proxy.hold = true;
    proxy.cut(/^GET \/sse/);
    await page.locator('#t [part~=status]').getByText('Reconnecting').waitFor({ timeout: 3000 });
    setScore(upstream.doc, 0, 'home', 93);
    await serviceHas(93);
    proxy.release();
    await homeScore(page, 93, 10e3);
    const resumed = proxy.log.slice(seen).find(e => /^GET \/sse/.test(e.line));
    const lastId = resumed.headers.find(h => /^last-event-id:/i.test(h));
    assert.match(lastId ?? '', /^last-event-id: *[0-9a-f]+:\d+$/i, 'the reconnect carries Last-Event-ID');
    const frames = sseData(resumed);
    assert.equal(frames[0].type, 'hello');
    assert.ok(['update', 'batch'].includes(frames[1].type), `the missed event was replayed, not a snapshot: ${frames[1].type}`);
    const events = frames[1].type === 'batch' ? frames[1].events : [frames[1]];
    assert.equal(events.at(-1).game.home.score, 93);
    await page.locator('#t [part~=status]').getByText('Live', { exact: true }).waitFor();

    // New topics on SSE: the stream is reopened with them, for a fresh snapshot (no resume point,
    // which would skip the new topics' current state).
    const before = proxy.log.length;
    await page.locator('#t').evaluate(t => t.setAttribute('topics', 'team:nba:bos'));
    await page.waitForFunction(() => {
      const ls = [...document.getElementById('t').shadowRoot.querySelectorAll('.ls:not([inert]) li')];
      return ls.length && ls.every(li => /BOS/.test(li.textContent));
    });
    // (The old games leave the DOM at once; the new stream's snapshot follows.)
    let reopened;
    for (let i = 0; i < 50 && !(reopened && sseData(reopened).length >= 2); i++) {
      reopened = proxy.log.slice(before).find(e => /^GET \/sse/.test(e.line));
      await new Promise(r => setTimeout(r, 100));
    }
    assert.match(reopened.line, /^GET \/sse\?topics=team%3Anba%3Abos HTTP\/1\.1$/);
    assert.ok(!reopened.headers.some(h => /^last-event-id:/i.test(h)));
    assert.equal(sseData(reopened)[1].type, 'snapshot');

    // WebSocket is retried in the background with backoff; once the proxy lets upgrades through,
    // the widget moves back to it.
    const probes = () => proxy.log.filter(e => e.upgrade).length;
    for (let i = 0; i < 250 && probes() <= upgrades.length; i++) await new Promise(r => setTimeout(r, 100));
    assert.ok(probes() > upgrades.length, 'WebSocket was retried while on SSE');
    assert.equal(await page.locator('#t').getAttribute('transport'), 'sse', 'a refused retry leaves it on SSE');
    proxy.refuse = false;
    const t1 = Date.now();
    await page.locator('#t[transport=websocket]').waitFor({ timeout: 25e3 });
    console.log(`# back on WebSocket ${Date.now() - t1} ms after upgrades were let through`);
    assert.equal((await page.evaluate(() => window.statuses)).at(-1).transport, 'websocket');
    setScore(upstream.doc, 0, 'home', 96);
    await homeScore(page, 96, POLL_MS + 1500);
    const streams = () => [...proxy.open].filter(p => /^GET \/sse/.test(p.line)).length;
    for (let i = 0; i < 20 && streams(); i++) await new Promise(r => setTimeout(r, 100));
    assert.equal(streams(), 0, 'the event stream was closed');
    page.problems = page.problems.filter(p => !expected(p));
    assert.deepEqual(page.problems, [], 'console errors, page errors or CSP violations');
  } finally {
    await context.close();
    await proxy.close();
  }
});

// An abrupt drop (close code 1006: the TCP connection cut, no close frame) and a slow-client close
// (1013) both mean "reconnect and resume": the next socket subscribes with `since`, and the service
// replays what was missed instead of sending a snapshot.
test('a socket cut abruptly (1006) reconnects with since, and the service replays what was missed', async () => {
  const proxy = await startProxy(service.port, { refuse: false });
  const context = await browser.newContext({ viewport: { width: 1000, height: 400 } });
  await context.addInitScript(() => {
    // Records the close codes the page's sockets see (the widget's own handler runs as well).
    const Native = WebSocket;
    window.closeCodes = [];
    window.WebSocket = class extends Native {
      constructor(...args) { super(...args); this.addEventListener('close', e => window.closeCodes.push(e.code)); }
    };
  });
  const sockets = [];
  const page = await open(context, upstream.page(proxy.port,
    `<score-ticker id="t" src="${proxy.ws}" mode="strip"><a href="https://example.com/scores">Live scores</a></score-ticker>`));
  page.on('websocket', ws => {
    const s = { sent: [], received: [] };
    sockets.push(s);
    ws.on('framesent', f => s.sent.push(f.payload));
    ws.on('framereceived', f => s.received.push(f.payload));
  });
  try {
    const status = page.locator('#t [part~=status]');
    await status.getByText('Live', { exact: true }).waitFor();
    await page.locator('#t .s-live').first().waitFor();
    proxy.hold = true;
    proxy.cut(/^GET \/ws/);
    await status.getByText('Reconnecting').waitFor({ timeout: 5000 });
    setScore(upstream.doc, 0, 'home', 97); // while the widget is away
    await serviceHas(97);
    proxy.release();
    await homeScore(page, 97, 15e3);
    assert.deepEqual(await page.evaluate(() => window.closeCodes), [1006]);
    const again = sockets.at(-1), subscribe = again.sent.map(p => JSON.parse(p)).find(m => m.type === 'subscribe');
    assert.ok(subscribe?.since?.epoch && subscribe.since.seq > 0, `the new socket resumes: ${JSON.stringify(subscribe)}`);
    const answer = again.received.map(p => JSON.parse(p)).find(m => !['hello', 'heartbeat'].includes(m.type));
    assert.ok(['update', 'batch'].includes(answer.type), `the missed event was replayed, not a snapshot: ${answer.type}`);
    assert.equal(await page.locator('#t').getAttribute('transport'), 'websocket', 'one drop is no reason to fall back to SSE');
    page.problems = page.problems.filter(p => !expected(p));
    assert.deepEqual(page.problems, [], 'console errors, page errors or CSP violations');
  } finally {
    await context.close();
    await proxy.close();
  }
});

async function diagnostics(url, shot) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 1400 }, permissions: ['clipboard-read', 'clipboard-write'] });
  const page = await open(context, url);
  await page.waitForSelector('body[data-done="1"]', { timeout: 40e3 });
  const steps = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('[data-step]')].map(li =>
    [li.dataset.step, { verdict: li.dataset.verdict, says: li.querySelector('.says').textContent, detail: li.querySelector('.detail').textContent }])));
  const summary = await page.locator('#summary').evaluate(el => ({ verdict: el.dataset.verdict, text: el.textContent }));
  await page.getByRole('button', { name: 'Copy report' }).click();
  await page.locator('#copied').getByText('Copied').waitFor();
  const report = await page.evaluate(() => navigator.clipboard.readText());
  await page.screenshot({ path: path.join(ARTIFACTS, shot), fullPage: true });
  return { context, page, steps, summary, report };
}

test('the diagnostics page reaches its verdicts against a healthy server, and copies a report', async () => {
  const { context, page, steps, summary, report } = await diagnostics(`${service.url}/diagnostics?idle=2`, 'diagnostics-healthy.png');
  try {
    for (const s of ['support', 'ws', 'upgrade', 'latency', 'frames', 'idle', 'sse', 'widget']) {
      assert.equal(steps[s].verdict, 'ok', `${s}: ${steps[s].says} ${steps[s].detail}`);
    }
    // No TLS listener in this test: wss:// is reported, but does not fail the page served over http.
    assert.ok(['ok', 'warn'].includes(steps.wss.verdict), steps.wss.says);
    assert.match(steps.latency.detail, /^min \d+\.\d ms · median \d+\.\d ms · max \d+\.\d ms$/);
    assert.match(steps.frames.says, /4,000-byte binary message came back intact/);
    assert.match(steps.widget.detail, /transport: websocket/);
    assert.deepEqual(summary, { verdict: 'ok', text: 'All good: live scores reach this browser over WebSocket.' });
    assert.match(report, /^Connection test — http:\/\/127\.0\.0\.1:\d+\n/);
    assert.match(report, /\[OK\] Round trip time \(20 pings\)\n {4}.*\n {4}min /);
    assert.match(report, /Verdict: All good/);
    const axe = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
    assert.deepEqual(axe.violations.map(v => `${v.id}: ${v.help}`), [], 'axe violations');
    page.problems = page.problems.filter(p => !/WebSocket connection to 'wss:/.test(p)); // the probe of wss:// on port 443
    assert.deepEqual(page.problems, []);
  } finally {
    await context.close();
  }
});

// ticker.js pins ticker-fallback.js by its SHA-384 (web/README.md, "Two files"). Here a tampering
// cache in front of the service (Playwright's request interception, on the real response) adds a
// statement to it: the browser must refuse to run it, and the widget must stay on its retry loop,
// saying so through ticker:status, rather than go live on a file it did not pin.
test('a tampered fallback file is refused by the browser, and the widget keeps retrying without it', async () => {
  const proxy = await startProxy(service.port, { refuse: true });
  const context = await browser.newContext({ viewport: { width: 1000, height: 400 } });
  await context.addInitScript(() => {
    window.statuses = [];
    document.addEventListener('ticker:status', e => window.statuses.push(e.detail));
  });
  const asked = [];
  await context.route(/\/ticker-fallback\.[0-9a-f]{16}\.js$/, async route => {
    asked.push(route.request().url());
    const real = await route.fetch();
    const body = 'window.tampered = 1;' + await real.text(); // a file that runs at all says so
    await route.fulfill({ status: 200, headers: { 'content-type': 'text/javascript', 'access-control-allow-origin': '*' }, body });
  });
  const page = await open(context, upstream.page(proxy.port,
    `<score-ticker id="t" src="${proxy.ws}" mode="strip"><a href="https://example.com/scores">Live scores</a></score-ticker>`));
  try {
    // Asked for after WebSocket failed, refused, then asked for again: the retry loop goes on.
    for (let i = 0; i < 300 && asked.length < 2; i++) await new Promise(r => setTimeout(r, 100));
    assert.ok(asked.length >= 2, `the fallback was asked for again after the refusal (${asked.length})`);
    assert.match(asked[0], new RegExp(`^${proxy.url}/ticker-fallback\\.[0-9a-f]{16}\\.js$`), 'next to ticker.js (here loaded through the proxy), content-addressed');
    assert.ok(page.problems.some(p => /integrity/i.test(p) && /ticker-fallback/.test(p)), `the browser reports the integrity failure: ${page.problems}`);
    assert.equal(await page.evaluate(() => window.tampered), undefined, 'the tampered file never ran');
    assert.equal(proxy.log.filter(e => /^GET \/(sse|api\/v1\/games)/.test(e.line)).length, 0, 'no SSE, no polling');
    const statuses = await page.evaluate(() => window.statuses);
    assert.ok(statuses.length && statuses.every(s => s.status !== 'live' && s.transport === 'websocket'), JSON.stringify(statuses));
    assert.ok(statuses.some(s => s.status === 'reconnecting'), 'ticker:status said reconnecting');
    await page.locator('#t [part~=status]').getByText(/Reconnecting|Offline/).waitFor();
    assert.ok(proxy.log.filter(e => e.upgrade).length >= 3, 'WebSocket is tried again between the refusals');
  } finally {
    await context.close();
    await proxy.close();
  }
});

test('the diagnostics page reports the failure through a proxy that refuses upgrades', async () => {
  const proxy = await startProxy(service.port, { refuse: true });
  const { context, page, steps, summary, report } = await diagnostics(`${proxy.url}/diagnostics?idle=2`, 'diagnostics-refused.png');
  try {
    assert.equal(steps.support.verdict, 'ok');
    assert.equal(steps.ws.verdict, 'fail');
    assert.equal(steps.upgrade.verdict, 'fail');
    assert.match(steps.upgrade.says, /upgrade never reached it/);
    assert.match(steps.upgrade.detail, /GET \/healthz: 200; plain GET \/ws\/echo: 426/);
    for (const s of ['latency', 'frames', 'idle']) assert.equal(steps[s].verdict, 'skip', s);
    assert.equal(steps.sse.verdict, 'ok');
    assert.equal(steps.widget.verdict, 'warn');
    assert.match(steps.widget.detail, /transport: sse/);
    assert.equal(summary.verdict, 'warn');
    assert.match(summary.text, /fallback \(Server-Sent Events\): WebSocket is blocked/);
    assert.match(report, /\[Problem\] The WebSocket upgrade \(101\)/);
    // The page's own plain request to the socket is answered 426 on purpose (that is the evidence).
    page.problems = page.problems.filter(p => !expected(p) && !/status of 426/.test(p));
    assert.deepEqual(page.problems, []);
  } finally {
    await context.close();
    await proxy.close();
  }
});
