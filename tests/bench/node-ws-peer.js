'use strict';
// The Node `ws` peer of tests/bench/run.sh: a broadcast server doing the same work as
// scoreticker's fan-out, written the way a Node service usually does it, so the same
// load tool (scoreticker-load) measures both.
//
//   GET /ws        hello + snapshot on connect (and a snapshot for any `subscribe`), then
//                  every broadcast; frames have the scoreticker wire shape (type, seq, ts first).
//   GET /control?rate=F   F updates per second (default 1), sent back to back at each
//                  whole second, like F scoreticker feeds polled on the same tick.
//   GET /healthz
//
// Each update is serialized once and sent with `for (const c of wss.clients) c.send(msg)`.
//
// Usage: node node-ws-peer.js [--host 127.0.0.1] [--port 0] [--games 20] [--rate 1] [--heartbeat 20]
// Prints {"listening":"host:port"} on stdout once listening.

const http = require('http');
const crypto = require('crypto');
const { WebSocketServer } = require('ws');

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const host = option('host', '127.0.0.1');
const port = parseInt(option('port', '0'), 10);
const gameCount = Math.max(1, parseInt(option('games', '20'), 10));
const heartbeatS = Math.max(1, parseInt(option('heartbeat', '20'), 10));
let rate = Math.max(0, parseInt(option('rate', '1'), 10));

const TEAMS = [
  ['ATL', 'Atlanta Hawks'], ['BOS', 'Boston Celtics'], ['BKN', 'Brooklyn Nets'], ['CHA', 'Charlotte Hornets'],
  ['CHI', 'Chicago Bulls'], ['CLE', 'Cleveland Cavaliers'], ['DAL', 'Dallas Mavericks'], ['DEN', 'Denver Nuggets'],
  ['DET', 'Detroit Pistons'], ['GS', 'Golden State Warriors'], ['HOU', 'Houston Rockets'], ['IND', 'Indiana Pacers'],
  ['LAC', 'LA Clippers'], ['LAL', 'Los Angeles Lakers'], ['MEM', 'Memphis Grizzlies'], ['MIA', 'Miami Heat'],
  ['MIL', 'Milwaukee Bucks'], ['MIN', 'Minnesota Timberwolves'], ['NO', 'New Orleans Pelicans'], ['NY', 'New York Knicks'],
  ['OKC', 'Oklahoma City Thunder'], ['ORL', 'Orlando Magic'], ['PHI', 'Philadelphia 76ers'], ['PHX', 'Phoenix Suns'],
  ['POR', 'Portland Trail Blazers'], ['SAC', 'Sacramento Kings'], ['SA', 'San Antonio Spurs'], ['TOR', 'Toronto Raptors'],
  ['UTAH', 'Utah Jazz'], ['WSH', 'Washington Wizards'],
];

const isoSeconds = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const team = (i, score) => {
  const [abbr, name] = TEAMS[i % TEAMS.length];
  return { id: String((i % TEAMS.length) + 1), name, abbr, score };
};
// The same games, field for field, as scoreticker makes of `scoreticker-load upstream`.
const games = [];
for (let g = 0; g < gameCount; g++) {
  games.push({
    id: `bench-0:${400000000 + g}`, feed: 'bench-0', league: 'nba', sport: 'basketball',
    status: { state: 'live', period: 3, clock: '5:32', detail: '5:32 - 3rd' },
    home: team(2 * g, 60 + g), away: team(2 * g + 1, 58 + g), updated: isoSeconds(),
  });
}

const epoch = crypto.randomBytes(8).toString('hex');
let seq = 0;
const snapshot = (topics) => JSON.stringify({ type: 'snapshot', seq, ts: Date.now(), topics: topics || ['all'], games });

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://peer');
  if (url.pathname === '/control') {
    const r = url.searchParams.get('rate');
    if (r !== null) rate = Math.max(0, parseInt(r, 10) || 0);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ rate }));
  } else if (url.pathname === '/healthz') {
    res.end('ok\n');
  } else {
    res.writeHead(404);
    res.end();
  }
});

const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.send(JSON.stringify({ type: 'hello', epoch, seq, heartbeat_s: heartbeatS }));
  ws.send(snapshot());
  ws.on('message', (data) => {
    let m;
    try { m = JSON.parse(data); } catch { return; }
    if (m && m.type === 'subscribe') ws.send(snapshot(m.topics));
  });
});

function broadcast() {
  for (let i = 0; i < rate; i++) {
    seq++;
    const n = seq - 1;
    const g = games[n % games.length];
    if (Math.floor(n / games.length) % 2 === 0) g.home.score += 2; else g.away.score += 2;
    g.updated = isoSeconds();
    const msg = JSON.stringify({ type: 'update', seq, ts: Date.now(), changes: ['score'], game: g });
    for (const c of wss.clients) c.send(msg);
  }
}

function everySecond() {
  setTimeout(() => { broadcast(); everySecond(); }, 1000 - (Date.now() % 1000));
}
everySecond();

setInterval(() => {
  const msg = JSON.stringify({ type: 'heartbeat', seq, ts: Date.now() });
  for (const c of wss.clients) c.send(msg);
}, heartbeatS * 1000);

server.listen(port, host, () => {
  const { version } = require('ws/package.json');
  console.log(JSON.stringify({ listening: `${host}:${server.address().port}`, ws: version, node: process.version }));
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
