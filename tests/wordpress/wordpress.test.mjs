// The WordPress plugin (deploy/wordpress/score-ticker) in a real WordPress (Debian's package, PHP,
// MariaDB; site.mjs), against the real scoreticker binary polling a real upstream, looked at in
// headless Chromium: an administrator activates the plugin and sets the server's address; posts
// with the shortcode and with the block show live scores, the widget loaded once per page with
// the integrity the server publishes; hostile attributes come out escaped; the block editor
// offers the block. The scoreticker server is reached through a recording proxy, so the test
// can count how often WordPress asks it for /api/v1/widget (the transient's work).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startUpstream, startService, startProxy, launchBrowser, setScore, competition, ARTIFACTS } from '../browser/harness.mjs';
import { waitForHomeScore } from '../npm/widget-api.mjs';
import { ROOT, PLUGIN_ZIP, startDatabase, startWordPress } from './site.mjs';

const PLUGIN = path.join(ROOT, 'deploy/wordpress/score-ticker');
const read = file => fs.readFileSync(path.join(PLUGIN, file), 'utf8');
/** CSS without comments, one space wherever there was any. */
const normalCss = css => css.replace(/\/\*[^]*?\*\//g, '').replace(/\s+/g, ' ').replace(/\s*([{};:])\s*/g, '$1').trim();

const POSTS = [
  { title: 'Shortcode', content: '<!-- wp:paragraph --><p>Above the scores.</p><!-- /wp:paragraph -->\n\n[score_ticker topics="league:nba" mode="strip"]\n\n<p>Below the scores.</p>' },
  { title: 'Blocks', content: '<!-- wp:paragraph --><p>Tonight.</p><!-- /wp:paragraph -->\n' +
    '<!-- wp:scoreticker/score-ticker {"topics":"league:nba","mode":"list","theme":"dark","announce":true,"href":"https://news.example/scores/{league}/{id}"} /-->\n' +
    '<!-- wp:scoreticker/score-ticker {"lang":"es-MX"} /-->\n<!-- wp:paragraph --><p>More news.</p><!-- /wp:paragraph -->' },
  { title: 'Hostile', content: '[score_ticker topics=\'x" onmouseover="window.pwned=1\' mode=\'list" onclick="window.pwned=1\' theme="sepia" ' +
    'href="javascript:window.pwned=1" lang=\'en" autofocus onfocus="window.pwned=1\' announce]\n' +
    '<!-- wp:scoreticker/score-ticker {"topics":"\\u0022\\u003e\\u003cimg src=x onerror=window.pwned=1\\u003e","href":"javascript:window.pwned=1","mode":"\\u0022 onclick=\\u0022x"} /-->' },
];

test('php -l: every PHP file of the plugin parses', () => {
  const files = fs.readdirSync(PLUGIN, { recursive: true }).filter(f => f.endsWith('.php'));
  assert.ok(files.length >= 5, `${files}`);
  for (const file of files) assert.match(execFileSync('php', ['-l', path.join(PLUGIN, file)], { encoding: 'utf8' }), /No syntax errors/);
});

test('the zip holds the plugin folder as WordPress uploads it', () => {
  execFileSync('sh', [path.join(ROOT, 'deploy/wordpress/build-zip.sh')], { stdio: 'pipe' });
  const listed = execFileSync('python3', ['-m', 'zipfile', '-l', PLUGIN_ZIP], { encoding: 'utf8' });
  for (const file of ['score-ticker/score-ticker.php', 'score-ticker/block/block.json', 'score-ticker/block/editor.js', 'score-ticker/readme.txt']) {
    assert.match(listed, new RegExp(`^${file.replace(/\./g, '\\.')}\\s`, 'm'));
  }
});

test('the block takes the shortcode\'s attributes, and reserves the space web/README.md documents', () => {
  const defaults = read('includes/render.php').match(/const SCORE_TICKER_DEFAULTS = array\(([^;]*)\);/)[1];
  const shortcode = [...defaults.matchAll(/'(\w+)'\s*=>/g)].map(m => m[1]).sort();
  assert.deepEqual(Object.keys(JSON.parse(read('block/block.json')).attributes).sort(), shortcode);
  const reservation = read('includes/render.php').match(/const SCORE_TICKER_RESERVATION_CSS = '([^']*)';/)[1];
  const readme = fs.readFileSync(path.join(ROOT, 'web/README.md'), 'utf8');
  const documented = readme.slice(readme.indexOf('Reserve the space')).match(/```css\n([^`]*)```/)[1];
  assert.equal(normalCss(reservation), normalCss(documented));
});

// The services, the site and the browser, shared by the tests below (which run in order).
let upstream, service, proxy, database, wordpress, browser, context, widget;
const stops = [];
before(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scoreticker-wordpress-'));
  upstream = await startUpstream();
  stops.push(upstream.close);
  service = await startService({ upstream });
  stops.push(service.stop);
  proxy = await startProxy(service.port, { refuse: false });
  stops.push(proxy.close);
  widget = await (await fetch(`${service.url}/api/v1/widget`)).json();
  if (!fs.existsSync(PLUGIN_ZIP)) execFileSync('sh', [path.join(ROOT, 'deploy/wordpress/build-zip.sh')], { stdio: 'pipe' });
  database = await startDatabase(dir);
  stops.push(database.stop);
  wordpress = await startWordPress({ dir, database, posts: POSTS });
  stops.push(wordpress.stop);
  browser = await launchBrowser();
  stops.push(() => browser.close());
  context = await browser.newContext();
  await context.route(offMachine, route => route.abort());
});
after(async () => { for (const stop of stops.reverse()) await stop(); });

const widgetAsks = () => proxy.log.filter(entry => /^GET \/api\/v1\/widget /.test(entry.line)).length;
const post = title => wordpress.posts.find(p => p.title === title);

/** A URL off this machine: WordPress's admin links avatars and fonts from the internet, which the
 *  browser is not let reach (the requests are aborted, and not counted as the page's problems). */
const offMachine = url => /^https?:/.test(url) && !/^https?:\/\/127\.0\.0\.1[:/]/.test(url);

/** Opens `url`, recording console errors (with the URL they are about) and page errors on `page.problems`. */
async function open(url) {
  const page = await context.newPage();
  page.problems = [];
  page.on('console', m => m.type() === 'error' && !offMachine(m.location().url) && page.problems.push(`${m.text()} (${m.location().url})`));
  page.on('pageerror', e => page.problems.push(e.message));
  await page.goto(url);
  return page;
}

test('an administrator logs in, activates the plugin and sets the server address (Settings API)', async () => {
  const page = await open(`${wordpress.url}/wp-login.php`);
  await page.fill('#user_login', wordpress.admin.user);
  await page.fill('#user_pass', wordpress.admin.password);
  await Promise.all([page.waitForURL(/wp-admin/), page.click('#wp-submit')]);
  await page.goto(`${wordpress.url}/wp-admin/plugins.php`);
  await Promise.all([page.waitForURL(/activate=true/), page.click('tr[data-slug="score-ticker"] .activate a')]);

  await page.goto(`${wordpress.url}/wp-admin/options-general.php?page=score-ticker`);
  assert.match(await page.textContent('#score-ticker-widget-error'), /No scoreticker server is set/);
  // Not an http(s) address: refused with a message, nothing saved.
  await page.fill('#score_ticker_server', 'javascript:alert(1)');
  await Promise.all([page.waitForURL(/settings-updated/), page.click('#submit')]);
  assert.match(await page.textContent('.notice-error, .error'), /must be an http/);
  assert.equal(await page.inputValue('#score_ticker_server'), '');

  await page.fill('#score_ticker_server', proxy.url + '/');
  await Promise.all([page.waitForURL(/settings-updated/), page.click('#submit')]);
  assert.equal(await page.inputValue('#score_ticker_server'), proxy.url, 'saved without the trailing slash');
  // The page asked the server afresh and shows what it publishes.
  const shown = await page.textContent('#score-ticker-widget');
  assert.ok(shown.includes(widget.integrity) && shown.includes(proxy.url + widget.url) && shown.includes(widget.version), shown);
  await page.screenshot({ path: path.join(ARTIFACTS, 'wordpress-settings.png'), fullPage: true });
  assert.deepEqual(page.problems, []);
  await page.close();
});

/** The checks every page with tickers passes: one script, pinned; the elements upgraded and live. */
async function checkTickerPage(page, count) {
  const scripts = await page.evaluate(() => [...document.querySelectorAll('script[src*="/ticker"]')].map(s =>
    ({ src: s.src, integrity: s.integrity, crossOrigin: s.crossOrigin, async: s.async, inHead: s.parentNode === document.head })));
  assert.deepEqual(scripts, [{ src: proxy.url + widget.url, integrity: widget.integrity, crossOrigin: 'anonymous', async: true, inHead: true }],
    'one widget script, the server\'s content-addressed URL with its integrity');
  assert.equal(normalCss(await page.textContent('style#score-ticker-inline-css')), normalCss(read('includes/render.php').match(/RESERVATION_CSS = '([^']*)'/)[1]));
  assert.equal(await page.locator('score-ticker').count(), count);
  // The browser ran the script (its integrity held) and every ticker went live.
  await page.waitForFunction(n => customElements.get('score-ticker') &&
    [...document.querySelectorAll('score-ticker')].filter(t => t.shadowRoot?.querySelector('[part~=bar]')?.dataset.st === 'live').length === n, count, { timeout: 15e3 });
}

const liveHome = () => competition(upstream.doc, 0).competitors.find(c => c.homeAway === 'home');

test('a post with the shortcode shows live scores from the server and follows a change', async () => {
  const page = await open(post('Shortcode').url);
  await checkTickerPage(page, 1);
  const ticker = page.locator('score-ticker');
  assert.equal(await ticker.getAttribute('topics'), 'league:nba');
  assert.equal(await ticker.getAttribute('mode'), 'strip');
  assert.equal(await ticker.getAttribute('src'), proxy.url.replace(/^http/, 'ws') + '/ws');
  const home = liveHome(), abbr = home.team.abbreviation;
  await waitForHomeScore(page, 'score-ticker', abbr, Number(home.score));
  setScore(upstream.doc, 0, 'home', Number(home.score) + 2);
  await waitForHomeScore(page, 'score-ticker', abbr, Number(home.score));
  await page.screenshot({ path: path.join(ARTIFACTS, 'wordpress-shortcode.png'), fullPage: true });
  assert.deepEqual(page.problems, []);
  await page.close();
});

test('a post with two blocks: both live, the widget loaded once, the block attributes applied', async () => {
  const page = await open(post('Blocks').url);
  await checkTickerPage(page, 2);
  const attributes = await page.evaluate(() => [...document.querySelectorAll('score-ticker')].map(t =>
    Object.fromEntries([...t.attributes].filter(a => a.name !== 'transport').map(a => [a.name, a.value]))));
  const src = proxy.url.replace(/^http/, 'ws') + '/ws';
  assert.deepEqual(attributes, [
    { src, topics: 'league:nba', mode: 'list', theme: 'dark', href: 'https://news.example/scores/{league}/{id}', announce: '' },
    { src, topics: 'all', mode: 'scroll', theme: 'light', lang: 'es-MX' },
  ]);
  const home = liveHome();
  await waitForHomeScore(page, 'score-ticker[mode=list]', home.team.abbreviation, Number(home.score));
  await page.screenshot({ path: path.join(ARTIFACTS, 'wordpress-blocks.png'), fullPage: true });
  assert.deepEqual(page.problems, []);
  await page.close();
});

test('hostile shortcode and block attributes come out as plain, checked values', async () => {
  const page = await open(post('Hostile').url);
  await checkTickerPage(page, 2);
  const tickers = await page.evaluate(() => [...document.querySelectorAll('score-ticker')].map(t =>
    Object.fromEntries([...t.attributes].map(a => [a.name, a.value]))));
  const src = proxy.url.replace(/^http/, 'ws') + '/ws', transport = 'websocket';
  assert.deepEqual(tickers, [
    { src, topics: 'all', mode: 'scroll', theme: 'light', announce: '', transport },
    { src, topics: 'all', mode: 'scroll', theme: 'light', transport },
  ]);
  await page.hover('score-ticker');
  await page.click('score-ticker');
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  assert.equal(await page.locator('.entry-content img, .wp-block-post-content img').count(), 0);
  assert.deepEqual(page.problems, []);
  await page.close();
});

test('a post without a ticker loads no widget; /api/v1/widget was asked once, by the settings page', async () => {
  const page = await open(`${wordpress.url}/?p=1`);
  assert.equal(await page.locator('script[src*="/ticker"]').count(), 0);
  assert.equal(await page.locator('style#score-ticker-inline-css').count(), 0);
  await page.close();
  // Only the settings page asked (once the address was set: it asks afresh on every view); every
  // post page read the transient.
  assert.equal(widgetAsks(), 1, proxy.log.map(e => e.line).join('\n'));
});

test('the block editor offers the block, from editor.js without a build step', async () => {
  const page = await open(`${wordpress.url}/wp-admin/post-new.php`);
  await page.waitForFunction(() => window.wp?.blocks?.getBlockType('scoreticker/score-ticker'), null, { timeout: 30e3 });
  const type = await page.evaluate(() => {
    const { title, attributes } = wp.blocks.getBlockType('scoreticker/score-ticker');
    const block = wp.blocks.createBlock('scoreticker/score-ticker', { topics: 'league:nba', mode: 'list' });
    wp.data.dispatch('core/block-editor').insertBlocks(block);
    return { title, attributes: Object.keys(attributes).sort(), saved: wp.blocks.serialize(block) };
  });
  assert.equal(type.title, 'Live scores');
  for (const name of Object.keys(JSON.parse(read('block/block.json')).attributes)) assert.ok(type.attributes.includes(name), name);
  assert.equal(type.saved, '<!-- wp:scoreticker/score-ticker {"topics":"league:nba","mode":"list"} /-->', 'a dynamic block stores no markup');
  await page.waitForSelector('.wp-block-scoreticker-score-ticker .components-placeholder', { timeout: 10e3 });
  assert.match(await page.textContent('.wp-block-scoreticker-score-ticker'), /league:nba · list · light/);
  assert.deepEqual(page.problems.filter(p => /score-ticker|scoreticker/i.test(p)), []);
  await page.close();
});

test('WordPress logged no notice, warning or error from the plugin', () => {
  const log = fs.existsSync(wordpress.debugLog) ? fs.readFileSync(wordpress.debugLog, 'utf8') : '';
  assert.deepEqual(log.split('\n').filter(line => line.includes('/plugins/score-ticker/')), []);
});
