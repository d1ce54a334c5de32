// The entry point of web/ticker-fallback.js (built by build.mjs): the transports a connection
// falls back to when WebSocket does not get through (web/README.md, "Two files"), Server-Sent
// Events and polling the snapshot. web/ticker.js loads it only when one of them is needed, pinned
// by the digest the build baked into it, and receives one function, start(c, poll, fresh), through
// the <script> element that loaded it: nothing is left on `window`.
//
// Each transport works on a Connection (connection.js) `c`, through the fields and methods that
// file leaves public for this one (their names are mangled the same in both files).
import { MAX_BACKOFF_MS } from './shared.js';

/** What a poller can tell changed between two states of a game: the fields that differ, with
 *  `score` and `teams` for a side, as in the protocol's `changes` (PROTOCOL.md) where it can. */
const changesBetween = (previous, game) => previous ? [...new Set(Object.keys(game)
  .filter(key => key !== 'updated' && JSON.stringify(previous[key]) !== JSON.stringify(game[key]))
  .map(key => key === 'home' || key === 'away' ? (previous[key].score === game[key].score ? 'teams' : 'score') : key))] : ['added'];

/** `src` (`wss://host/ws`) made the http(s) URL of another path of the same server. */
const httpUrl = (c, path) => c.wsUrl.replace(/^ws/, 'http').replace(/ws$/, path);

/** Opens the SSE stream of `c`; `fresh` asks for a snapshot instead of resuming. */
function openStream(c, fresh) {
  c.eventStream?.close();
  const url = httpUrl(c, 'sse?topics=') + encodeURIComponent([...c.topicSet]) +
    (fresh || c.resumeSeq == null ? '' : `&lastEventId=${c.resumeEpoch}:${c.resumeSeq}`);
  const stream = c.eventStream = new EventSource(url);
  stream.onmessage = e => c.eventStream === stream && c.receiveFrame(e.data);
  // EventSource reconnects by itself (with Last-Event-ID) unless it gave up (CLOSED). Giving up
  // before its hello (an error status, a proxy's refusal) is SSE failing: polling takes over.
  stream.onerror = () => {
    if (c.eventStream !== stream) return;
    if (stream.readyState === EventSource.CLOSED) {
      c.eventStream = null;
      if (!c.isGreeted && !c.activePoll) poll(c);
      c.retryLater();
    } else if (!c.activePoll) c.setStatus('reconnecting');
  };
}

/** One poll of the snapshot document (PROTOCOL.md, "Polling the snapshot"), then the next one
 *  X-Poll-Interval later: with If-None-Match, so that a cache (CDN mode) answers most with 304.
 *  `c.activePoll` holds its state; `fresh` (other topics) starts it anew. */
async function poll(c, fresh) {
  let state = c.activePoll;
  clearTimeout(state?.timer);
  // `url`: the canonical URL of the topics, once the server has answered it. `intervalMs`: until
  // the server says (X-Poll-Interval). `round` counts polls, so that an answer to a poll that no
  // longer counts is ignored. The ETag is the server's position, not the document's.
  if (!state || fresh) state = c.activePoll = { url: '', etag: '', failures: 0, intervalMs: 1e3, round: 0 };
  const round = ++state.round;
  // The server redirects every other spelling of the topics to their canonical URL: the URL that
  // answered is the one asked from then on. A 304 is not `ok`; a network error answers 0.
  const response = await fetch(state.url || httpUrl(c, 'api/v1/games?topics=') + [...c.topicSet],
    { headers: { 'if-none-match': state.etag } }).catch(() => 0);
  const body = response.ok && await response.json().catch(() => 0);
  if (c.activePoll !== state || round !== state.round) return; // stopped, or another poll started meanwhile
  if (body || response.status === 304) {
    state.failures = 0;
    state.intervalMs = response.headers.get('x-poll-interval') * 1e3 || state.intervalMs;
    c.lastHeard = Date.now();
    if (body) {
      state.url = response.url;
      state.etag = response.headers.get('etag');
      onPolled(c, body);
    }
    c.setStatus('live');
  } else c.setTrouble(++state.failures);
  state.timer = setTimeout(() => poll(c), Math.min(MAX_BACKOFF_MS, state.intervalMs * 2 ** state.failures));
}

/** A polled document is the whole truth for its topics. The first one (or one of another epoch)
 *  is a snapshot; after that its games that changed become updates and the games missing from it
 *  removals, as if streamed. */
function onPolled(c, polled) {
  const gone = new Map(c.gamesById), seq = polled.seq;
  c.serverEpoch = polled.epoch;
  if (polled.epoch !== c.resumeEpoch) return c.onSnapshot(polled);
  c.advanceTo(seq); // first: a complete document has no gap for noticeGap to find
  for (const game of polled.games) gone.delete(game.id);
  const changed = polled.games.filter(game => JSON.stringify(c.gamesById.get(game.id)?.game) !== JSON.stringify(game));
  c.onEvents([...changed.map(game => ({ type: 'update', game, seq, changes: changesBetween(c.gamesById.get(game.id)?.game, game) })),
    ...[...gone.keys()].map(id => ({ type: 'remove', id, seq }))]);
}

// Hands the transports to the ticker.js that loaded this file (connection.js, loadFallback and
// #startFallback): `poll` starts polling, else the SSE stream; `fresh` for other topics.
document.currentScript?.fallbackLoaded?.((c, polling, fresh) => polling ? poll(c, fresh) : openStream(c, fresh));
