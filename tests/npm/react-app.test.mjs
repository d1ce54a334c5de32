// The npm package as a publisher meets it: `npm pack` deploy/npm, install the tarball into a
// React 19 site built with Vite (tests/npm/app, its dependencies from the npm registry, pinned by
// its package-lock), type-check it with tsc, build it, and open the built page in headless Chromium
// against the real scoreticker binary polling a real upstream: the scores render and update.
//
// The app is set up in target/npm-app; its node_modules is kept between runs and installed again
// (`npm ci`) only when tests/npm/app/package.json or its package-lock.json changes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startUpstream, startService, launchBrowser, setScore, competition, ARTIFACTS } from '../browser/harness.mjs';
import { ROOT, handledByWidget, declaredApi, declarations, waitForHomeScore } from './widget-api.mjs';

const PACKAGE = path.join(ROOT, 'deploy/npm');
const APP_SOURCE = path.join(ROOT, 'tests/npm/app');
const APP = path.join(ROOT, 'target/npm-app');
const PACKED = path.join(ROOT, 'target/npm-pack');

/** Runs a command; on failure the error carries everything it printed. */
function run(command, args, cwd) {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  } catch (e) {
    throw new Error(`${command} ${args.join(' ')} (in ${cwd}) failed:\n${e.stdout}\n${e.stderr}`);
  }
}
const npm = (args, cwd) => run('npm', [...args, '--no-audit', '--no-fund'], cwd);

let tarball;

test('npm pack --dry-run: exactly the package files, no warnings', () => {
  const [report] = JSON.parse(npm(['pack', '--dry-run', '--json'], PACKAGE).replace(/^[^[]*/, ''));
  const fallback = handledByWidget().fallbackFile;
  assert.deepEqual(report.files.map(f => f.path).sort(),
    ['LICENSE', 'README.md', 'dist/score-ticker.js', `dist/${fallback}`, 'package.json', 'react.d.ts', 'score-ticker.d.ts', 'server.js']);
  const stderr = execFileSync('sh', ['-c', 'npm pack --dry-run 2>&1 >/dev/null'], { cwd: PACKAGE, encoding: 'utf8' });
  assert.doesNotMatch(stderr, /npm warn|npm error/i, stderr);
});

test('npm pack, then the tarball installs into the React 19 + Vite app', () => {
  fs.mkdirSync(PACKED, { recursive: true });
  const [{ filename }] = JSON.parse(npm(['pack', '--json', '--pack-destination', PACKED], PACKAGE).replace(/^[^[]*/, ''));
  tarball = path.join(PACKED, filename);
  // The app's own files, fresh from the repository each run; its node_modules only when its lock changed.
  fs.mkdirSync(APP, { recursive: true });
  for (const name of fs.readdirSync(APP)) if (name !== 'node_modules') fs.rmSync(path.join(APP, name), { recursive: true, force: true });
  fs.cpSync(APP_SOURCE, APP, { recursive: true });
  const lock = crypto.createHash('sha256').update(fs.readFileSync(path.join(APP, 'package.json')))
    .update(fs.readFileSync(path.join(APP, 'package-lock.json'))).digest('hex');
  const stamp = path.join(APP, 'node_modules/.scoreticker-lock-sha256');
  if (!fs.existsSync(stamp) || fs.readFileSync(stamp, 'utf8') !== lock) {
    npm(['ci'], APP);
    fs.writeFileSync(stamp, lock);
  }
  // --no-save: the committed package.json and lock name registry packages only.
  npm(['install', '--no-save', tarball], APP);
  const installed = JSON.parse(fs.readFileSync(path.join(APP, 'node_modules/scoreticker-widget/package.json'), 'utf8'));
  assert.equal(installed.version, JSON.parse(fs.readFileSync(path.join(PACKAGE, 'package.json'), 'utf8')).version);
});

test('tsc type-checks <score-ticker> in JSX, querySelector and the events (and refuses what it must)', () => {
  // src/typecheck.tsx holds @ts-expect-error lines: types too loose to reject them fail here too.
  run(path.join(APP, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], APP);
});

test('importing the package on a server (SSR, the node condition) does nothing and does not throw', () => {
  const out = run('node', ['--input-type=module', '-e',
    "await import('scoreticker-widget'); await import('scoreticker-widget/react'); console.log(typeof HTMLElement)"], APP);
  assert.equal(out.trim(), 'undefined');
});

test('vite build emits the page, the widget in its bundle and the fallback file beside it, byte for byte', () => {
  run(path.join(APP, 'node_modules/.bin/vite'), ['build'], APP);
  const assets = fs.readdirSync(path.join(APP, 'dist/assets'));
  const fallback = handledByWidget().fallbackFile.replace(/\.js$/, '');
  const emitted = assets.find(name => name.startsWith(fallback));
  assert.ok(emitted, `the fallback file is emitted as its own file (not inlined): ${assets}`);
  assert.ok(fs.readFileSync(path.join(APP, 'dist/assets', emitted)).equals(fs.readFileSync(path.join(ROOT, 'web/ticker-fallback.js'))));
});

/** Serves the built app (target/npm-app/dist) as a static site. */
async function serveApp() {
  const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };
  const dist = path.join(APP, 'dist');
  const served = [];
  const server = http.createServer((req, res) => {
    const file = path.join(dist, new URL(req.url, 'http://x').pathname.replace(/\/$/, '/index.html'));
    served.push(req.url);
    if (!file.startsWith(dist) || !fs.existsSync(file)) { res.writeHead(404); return res.end(); }
    res.writeHead(200, { 'content-type': types[path.extname(file)] || 'application/octet-stream' });
    res.end(fs.readFileSync(file));
  });
  await new Promise(r => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, served, close: () => new Promise(r => { server.closeAllConnections(); server.close(r); }) };
}

const cleanups = [];
after(async () => { for (const close of cleanups.reverse()) await close(); });

test('the built page shows live scores from the real server, updates them, and follows React', async () => {
  const upstream = await startUpstream();
  cleanups.push(upstream.close);
  const service = await startService({ upstream });
  cleanups.push(service.stop);
  const site = await serveApp();
  cleanups.push(site.close);
  const browser = await launchBrowser();
  cleanups.push(() => browser.close());
  const page = await browser.newPage();
  const problems = [];
  page.on('console', m => m.type() === 'error' && problems.push(m.text()));
  page.on('pageerror', e => problems.push(e.message));
  await page.addInitScript(() => {
    window.tickerDetails = [];
    document.addEventListener('ticker:update', event => window.tickerDetails.push(event.detail));
  });
  await page.goto(`${site.url}/?server=${encodeURIComponent(service.ws)}`);

  // The live game (PHI at BOS), as the server has it and as the widget shows it.
  const live = competition(upstream.doc, 0);
  const homeAbbr = live.competitors.find(c => c.homeAway === 'home').team.abbreviation;
  const serverGames = await service.games();
  const serverLive = serverGames.find(g => g.home.abbr === homeAbbr && g.status.state === 'live');
  await page.waitForFunction(() => document.getElementById('status').textContent === 'live', null, { timeout: 15e3 });
  await waitForHomeScore(page, '#live', homeAbbr, serverLive.home.score, 2e3);
  const shownGames = await page.evaluate(() => document.getElementById('live').shadowRoot.querySelectorAll('[part~=game]').length);
  assert.equal(shownGames, serverGames.length, 'every NBA game the server holds');

  // React set the attributes: `announce` present, the layout from state; a re-render changes it.
  const layout = () => page.evaluate(() => document.getElementById('live').shadowRoot.querySelector('[part~=bar]').className);
  assert.equal(await page.evaluate(() => document.getElementById('live').getAttribute('announce')), '');
  assert.match(await layout(), /\blist\b/);
  await page.click('#switch');
  await page.waitForFunction(() => /\bstrip\b/.test(document.getElementById('live').shadowRoot.querySelector('[part~=bar]').className));

  // A score changes upstream: the widget shows it, and the app hears it as a typed ticker:update.
  const updatesBefore = Number(await page.textContent('#updates'));
  const newScore = serverLive.home.score + 3;
  setScore(upstream.doc, 0, 'home', newScore);
  await waitForHomeScore(page, '#live', homeAbbr, newScore);
  await page.waitForFunction(score => document.getElementById('score').textContent.endsWith(`${score}`), newScore, { timeout: 5e3 });
  assert.ok(Number(await page.textContent('#updates')) > updatesBefore);

  // The polling ticker loaded the fallback file the build emitted (its integrity checked by the
  // browser: a mismatch would never run it), went live by polling and shows the same change.
  await page.waitForFunction(() => document.getElementById('polled').shadowRoot.querySelector('[part~=bar]').dataset.st === 'live', null, { timeout: 15e3 });
  assert.equal(await page.getAttribute('#polled', 'transport'), 'poll');
  assert.ok(site.served.some(url => /\/assets\/ticker-fallback\.[0-9a-f]{16}-/.test(url)), `the emitted fallback file was loaded: ${site.served}`);
  await waitForHomeScore(page, '#polled', homeAbbr, newScore);

  // What is registered at run time is what the types declare.
  const registered = await page.evaluate(() => {
    const element = customElements.get('score-ticker');
    return { observed: [...element.observedAttributes].sort(), members: Object.getOwnPropertyNames(element.prototype).sort() };
  });
  assert.deepEqual(registered.observed, handledByWidget().observed);
  const lifecycle = ['attributeChangedCallback', 'connectedCallback', 'constructor', 'disconnectedCallback'];
  assert.deepEqual(registered.members, [...lifecycle, ...declaredApi().elementMembers].sort(),
    'the element\'s public members are the lifecycle callbacks and what ScoreTickerElement declares');

  // The games the events carried have no field the Game type (and its parts) does not declare.
  const { interfaces } = declarations();
  const games = await page.evaluate(() => window.tickerDetails.flatMap(d => d.games || [d.game]));
  assert.ok(games.length > 0);
  const undeclared = new Set();
  const check = (value, type, where) => {
    for (const key of Object.keys(value ?? {})) if (!interfaces.get(type).includes(key)) undeclared.add(`${where}.${key}`);
  };
  for (const game of games) {
    check(game, 'Game', 'game');
    check(game.status, 'GameStatus', 'game.status');
    check(game.home, 'Team', 'game.home');
    check(game.away, 'Team', 'game.away');
    check(game.situation, 'Situation', 'game.situation');
  }
  assert.deepEqual([...undeclared], [], 'fields the server sends that deploy/npm/score-ticker.d.ts does not declare');

  await page.screenshot({ path: path.join(ARTIFACTS, 'npm-react-app.png'), fullPage: true });
  assert.deepEqual(problems, []);
});
