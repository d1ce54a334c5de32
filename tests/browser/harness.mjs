// Test harness: a real HTTP upstream serving recorded ESPN scoreboards, the real scoreticker
// binary polling it, and real headless Chromium driven by playwright-core.
import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '../..');
export const ARTIFACTS = path.join(here, 'artifacts');
export const BIN = process.env.SCORETICKER_BIN ? path.resolve(process.env.SCORETICKER_BIN) : path.join(ROOT, 'target/debug/scoreticker');
export const FEED = 'test-nba';
export const POLL_MS = 1000;
export const HEARTBEAT_S = 2;
fs.mkdirSync(ARTIFACTS, { recursive: true });

export const fixture = name => JSON.parse(fs.readFileSync(path.join(ROOT, 'tests/fixtures/espn', name), 'utf8'));

/** One NBA scoreboard built from real recordings: the live playoff game first, then a day of
 *  finals and a scheduled game, so a ticker has enough games to scroll. */
export function scoreboard() {
  const doc = fixture('basketball-nba-live-playoffs.json');
  doc.events.push(...fixture('basketball-nba-20241215.json').events, ...fixture('basketball-nba-scheduled.json').events);
  return doc;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

/** The upstream: GET /scoreboard serves `doc` (edit it freely), and each path in `docs` (a Map,
 *  path → document) its document; other paths serve host pages registered with page(), with a
 *  strict CSP that allows only the service. */
export async function startUpstream() {
  const up = { doc: scoreboard(), docs: new Map(), pages: new Map(), hits: 0 };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const doc = url.pathname === '/scoreboard' ? up.doc : up.docs.get(url.pathname);
    if (doc) {
      up.hits++;
      res.writeHead(200, { 'content-type': 'application/json;charset=UTF-8', 'cache-control': 'no-store' });
      return res.end(JSON.stringify(doc));
    }
    const page = up.pages.get(url.pathname);
    if (!page) { res.writeHead(404); return res.end('not found'); }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': page.csp, 'cache-control': 'no-store' });
    res.end(page.html);
  });
  await new Promise(r => server.listen(0, '127.0.0.1', r));
  up.port = server.address().port;
  up.url = `http://127.0.0.1:${up.port}`;
  up.close = () => new Promise(r => { server.closeAllConnections(); server.close(r); });
  let n = 0;
  /** Registers a publisher page that embeds the widget from the service `svc` (a port). */
  up.page = (svc, body, { css = '', lang = 'en', frames = false, script = true } = {}) => {
    const p = `/host-${++n}`, origin = `127.0.0.1:${svc}`;
    // What a publisher with a strict policy allows: the script and the socket of the service (and its
    // SSE fallback), nothing for styles but its own (nonce): the widget must need no style-src of its own.
    const csp = `default-src 'none'; script-src http://${origin}; connect-src ws://${origin} http://${origin}; style-src 'nonce-host'; ` +
      `img-src 'none'${frames ? `; frame-src http://${origin}` : ''}`;
    up.pages.set(p, {
      csp, html: `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><title>Publisher page</title>` +
        `<style nonce="host">body{margin:20px;font-family:serif}${css}</style>` +
        (script ? `<script src="http://${origin}/ticker.js" async></script>` : '') + `</head><body>${body}</body></html>`,
    });
    return up.url + p;
  };
  return up;
}

/** The first competition of event `i` (0 = the live playoff game, PHI at BOS). */
export const competition = (doc, i = 0) => doc.events[i].competitions[0];
export function setScore(doc, i, homeAway, score) {
  competition(doc, i).competitors.find(c => c.homeAway === homeAway).score = String(score);
}
export function setStatus(doc, i, status) {
  doc.events[i].status = status;
  competition(doc, i).status = status;
}
export function setFinal(doc, i) {
  const st = { clock: 0, displayClock: '0.0', period: 4,
    type: { id: '3', name: 'STATUS_FINAL', state: 'post', completed: true, description: 'Final', detail: 'Final', shortDetail: 'Final' } };
  doc.events[i].status = st;
  competition(doc, i).status = st;
}

/** The real service, as an operator runs it: `scoreticker serve --config <file>`. `feeds`: the
 *  espn feeds it polls, [{ id, path, league, sport }] (path on the upstream); by default one, the
 *  NBA scoreboard at /scoreboard. */
export async function startService({ upstream, port, adminPort, dir, feeds }) {
  if (!fs.existsSync(BIN)) throw new Error(`no scoreticker binary at ${BIN}: run cargo build (or set SCORETICKER_BIN)`);
  dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'scoreticker-browser-'));
  port ??= await freePort();
  adminPort ??= await freePort();
  fs.mkdirSync(path.join(dir, 'feeds.d'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'scoreticker.toml'),
    `listen = "127.0.0.1:${port}"\nfeeds_dir = "feeds.d"\nstate_dir = "${path.join(dir, 'state')}"\n\n` +
    // A short heartbeat, so that the widget's watchdog (heartbeat + 10 s) can be tested in seconds.
    `[limits]\nheartbeat = "${HEARTBEAT_S}s"\n\n` +
    // The admin listener on a free port of its own: its default (9090) is shared by every service.
    `[admin]\nlisten = "127.0.0.1:${adminPort}"\n`);
  feeds ??= [{ id: FEED, path: '/scoreboard', league: 'nba', sport: 'basketball' }];
  for (const f of feeds) {
    fs.writeFileSync(path.join(dir, `feeds.d/${f.id}.toml`),
      `id = "${f.id}"\nadapter = "espn"\nurl = "${upstream.url}${f.path}"\nschedule = "1s"\nleague = "${f.league}"\nsport = "${f.sport}"\n`);
  }
  const log = fs.createWriteStream(path.join(ARTIFACTS, 'service.log'), { flags: 'a' });
  const proc = spawn(BIN, ['serve', '--config', path.join(dir, 'scoreticker.toml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout.pipe(log, { end: false });
  proc.stderr.pipe(log, { end: false });
  const exited = new Promise(r => proc.once('exit', (code, signal) => r({ code, signal })));
  const svc = { proc, port, adminPort, dir, url: `http://127.0.0.1:${port}`, admin: `http://127.0.0.1:${adminPort}`, ws: `ws://127.0.0.1:${port}/ws`, exited };
  const deadline = Date.now() + 20e3;
  for (;;) {
    if (proc.exitCode != null) throw new Error(`scoreticker exited with ${proc.exitCode}; see ${path.join(ARTIFACTS, 'service.log')}`);
    try { if ((await fetch(svc.url + '/healthz')).ok) break; } catch { /* not listening yet */ }
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error('scoreticker did not answer /healthz within 20 s'); }
    await sleep(100);
  }
  /** The games the service currently holds (its JSON snapshot API); [] while it does not answer. */
  svc.games = async () => {
    const r = await fetch(`${svc.url}/api/v1/games?topics=all`);
    return r.ok ? (await r.json()).games : [];
  };
  svc.stop = async (signal = 'SIGTERM') => {
    if (proc.exitCode == null && proc.signalCode == null) {
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
  };
  return svc;
}

/** A small HTTP proxy in front of the service (port `target`), like the corporate proxies the SSE
 *  fallback is for. With `refuse` on it behaves like a proxy that does not know WebSocket: hop-by-hop
 *  headers (Connection, Upgrade) are not forwarded, so an upgrade reaches the service as a plain GET
 *  and is answered 426, and the browser's WebSocket fails. That is a real failure path end to end
 *  (the browser, the proxy's HTTP, the service's refusal), with no test-only switch in the service.
 *  With `refuseSse` on as well it answers `GET /sse` itself with 403, as a proxy whose policy
 *  forbids event streams: only plain requests (the snapshot API, which the poll transport uses)
 *  get through. Each connection carries one request (Connection: close), so every request passes
 *  through here. It records each request head and what the service answered (`log`), and can
 *  `hold` new connections (as a network outage would) and `cut` the open ones. */
export async function startProxy(target, { refuse = true, refuseSse = false } = {}) {
  const px = { refuse, refuseSse, hold: false, upgrades: 0, log: [], open: new Set(), held: [] };
  const server = net.createServer(client => {
    let head = Buffer.alloc(0);
    const onData = chunk => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      client.off('data', onData);
      client.pause();
      let lines = head.subarray(0, end).toString('latin1').split('\r\n');
      const upgrade = lines.some(l => /^upgrade:\s*websocket/i.test(l));
      if (upgrade) px.upgrades++;
      if (!upgrade || px.refuse) lines = [...lines.filter(l => !/^(connection|upgrade|keep-alive):/i.test(l)), 'Connection: close'];
      const entry = { line: lines[0], headers: lines.slice(1), upgrade, refused: upgrade && px.refuse, answer: '' };
      px.log.push(entry);
      if (px.refuseSse && /^GET \/sse[?\s]/.test(lines[0])) {
        entry.refused = true;
        // (With CORS allowed, so that what the page sees is the refusal itself.)
        entry.answer = 'HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 22\r\n' +
          'access-control-allow-origin: *\r\nconnection: close\r\n\r\nevent streams blocked\n';
        return client.end(entry.answer);
      }
      const go = () => {
        const up = net.connect(target, '127.0.0.1', () => {
          up.write(lines.join('\r\n') + '\r\n\r\n');
          up.write(head.subarray(end + 4));
          client.pipe(up);
          client.resume();
        });
        up.on('data', d => { if (entry.answer.length < 64e3) entry.answer += d.toString('utf8'); client.write(d); });
        const pair = { client, up, line: lines[0] };
        px.open.add(pair);
        const done = () => { px.open.delete(pair); client.destroy(); up.destroy(); };
        up.on('close', done); up.on('error', done); client.on('close', done); client.on('error', done);
      };
      px.hold ? px.held.push(go) : go();
    };
    client.on('data', onData);
    client.on('error', () => client.destroy());
  });
  await new Promise(r => server.listen(0, '127.0.0.1', r));
  px.port = server.address().port;
  px.url = `http://127.0.0.1:${px.port}`;
  px.ws = `ws://127.0.0.1:${px.port}/ws`;
  /** Drops every open connection whose request line matches `re`. */
  px.cut = re => { for (const p of px.open) if (re.test(p.line)) { p.client.destroy(); p.up.destroy(); } };
  px.release = () => { px.hold = false; px.held.splice(0).forEach(go => go()); };
  px.close = () => new Promise(r => { for (const p of px.open) { p.client.destroy(); p.up.destroy(); } server.close(r); });
  return px;
}

export const sleep = ms => new Promise(r => setTimeout(r, ms));

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic'],
  });
}

/** Opens a page and records every console error, page error and CSP report on `page.problems`. */
export async function open(context, url) {
  const page = await context.newPage();
  page.problems = [];
  page.on('console', m => m.type() === 'error' && page.problems.push('console: ' + m.text()));
  page.on('pageerror', e => page.problems.push('pageerror: ' + e.message));
  await page.goto(url);
  return page;
}
