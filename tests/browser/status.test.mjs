// The operator's status page (/status on the admin listener) in real headless Chromium against the
// real service: it renders the feeds, charts and games, updates itself without a reload when a
// score changes upstream, reads in both colour schemes (screenshots in artifacts/status-*.png),
// passes the axe scan and is usable from the keyboard. Run with ./run.sh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { ARTIFACTS, FEED, startUpstream, startService, launchBrowser, open, setScore } from './harness.mjs';

const LIVE_ID = `${FEED}:401869412`; // PHI at BOS, in the live playoff recording
let upstream, service, browser;

before(async () => {
  upstream = await startUpstream();
  service = await startService({ upstream });
  browser = await launchBrowser();
  for (let i = 0; i < 100 && !(await service.games()).length; i++) await new Promise(r => setTimeout(r, 100));
});
after(async () => {
  await browser?.close();
  await service?.stop();
  await upstream?.close();
});

async function openStatus(colorScheme) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme });
  const page = await open(context, `${service.admin}/status`);
  await page.locator(`tr[data-feed="${FEED}"]`).waitFor({ timeout: 10e3 });
  await page.locator('#live[data-state=live]').waitFor({ timeout: 10e3 });
  // At least one poll charted (the latency chart has a bar).
  await page.locator(`tr[data-feed="${FEED}"] svg.chart rect`).first().waitFor({ timeout: 10e3 });
  return { context, page };
}

async function axe(page) {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
  assert.deepEqual(result.violations.map(v => `${v.id}: ${v.help} (${v.nodes.map(n => n.target).join(' ')})`), [], 'axe violations');
}

test('the status page shows the feed, follows a score change without reloading, and passes axe (light)', async () => {
  const { context, page } = await openStatus('light');
  try {
    const row = page.locator(`tr[data-feed="${FEED}"]`);
    assert.equal(await row.locator('.state').textContent(), 'ok');
    assert.equal(await row.locator('td').nth(1).textContent(), 'fixed');
    // The charts say what they show, for screen readers and as tooltips.
    const label = await row.locator('svg.chart').first().getAttribute('aria-label');
    assert.match(label, /^Poll latency of test-nba, last hour: latest \d+ ms, highest \d+ ms$/);
    assert.match(await row.locator('svg.chart title').first().textContent(), /Poll latency/);
    assert.match(await page.locator('#transports').textContent(), /^WebSocket \d+ · SSE \d+$/);
    assert.match(await page.locator('#ring').textContent(), /^\d+ events, seq 1 /);
    await page.screenshot({ path: path.join(ARTIFACTS, 'status-light.png'), fullPage: true });
    await axe(page);

    // Live: a score change upstream reaches the page over /status/events, with no reload.
    await page.evaluate(() => { window.notReloaded = true; });
    const score = page.locator(`tr[data-game="${LIVE_ID}"] .score`);
    const before = await score.textContent();
    setScore(upstream.doc, 0, 'home', 131);
    await page.waitForFunction(id => document.querySelector(`tr[data-game="${id}"] .score`)?.textContent.endsWith('–131'), LIVE_ID,
      { timeout: 10e3, polling: 100 });
    assert.notEqual(before, await score.textContent());
    assert.equal(await page.evaluate(() => window.notReloaded), true, 'updated in place, not by a reload');

    // Keyboard: the links are reachable with Tab and show focus.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.tagName), 'A');
    assert.deepEqual(page.problems, []);
  } finally {
    await context.close();
  }
});

test('the status page reads in the dark scheme and passes axe there too', async () => {
  const { context, page } = await openStatus('dark');
  try {
    const [ink, paper] = await page.evaluate(() => {
      const s = getComputedStyle(document.body);
      return [s.color, s.backgroundColor];
    });
    assert.notEqual(ink, paper);
    assert.equal(paper, 'rgb(18, 20, 24)', 'the dark palette applies');
    await page.screenshot({ path: path.join(ARTIFACTS, 'status-dark.png'), fullPage: true });
    await axe(page);
    assert.deepEqual(page.problems, []);
  } finally {
    await context.close();
  }
});
