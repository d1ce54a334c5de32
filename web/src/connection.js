// One connection per `src`, shared by every widget on the page that uses it (web/README.md,
// Connection): WebSocket first, Server-Sent Events when WebSocket keeps failing, polling the
// snapshot document when both do (or when asked to), with resume (`since` / `lastEventId`), a
// heartbeat watchdog and backoff with full jitter.
//
// A widget joins with a *listener*, not itself, so that nothing of the element's internals is
// reachable from the page: { topics: string[], onStatus(), onGames(events|null), onTopicsChanged() }.
import { topicMatches, anyTopicMatches } from './topics.js';

const MAX_BACKOFF_MS = 20e3;
/** A socket that closes this soon after opening counts as a failure of WebSocket itself (a proxy
 *  that cuts upgraded connections), towards the SSE fallback. */
const QUICK_CLOSE_MS = 10e3;
const FAILURES_BEFORE_SSE = 2;
/** After this many failed attempts in a row the status says "offline" rather than "reconnecting". */
const ATTEMPTS_BEFORE_OFFLINE = 7;
/** The server's close code for a client too slow to take its frames (PROTOCOL.md): the server
 *  spoke WebSocket, so it is no sign of a WebSocket-hostile network. */
const CLOSE_TRY_AGAIN_LATER = 1013;

const connections = new Map();

/** The shared connection for `src`, created on first use; `pollOnly` (`transport="poll"`) gets
 *  one of its own that never tries WebSocket or SSE. */
export function connectionFor(src, pollOnly) {
  const key = (pollOnly ? 'poll ' : '') + src;
  if (!connections.has(key)) connections.set(key, new Connection(src, pollOnly, key));
  return connections.get(key);
}

/** What a poller can tell changed between two states of a game: the fields that differ, with
 *  `score` and `teams` for a side, as in the protocol's `changes` (PROTOCOL.md) where it can. */
const changesBetween = (previous, game) => previous ? [...new Set(Object.keys(game)
  .filter(key => key !== 'updated' && JSON.stringify(previous[key]) !== JSON.stringify(game[key]))
  .map(key => key === 'home' || key === 'away' ? (previous[key].score === game[key].score ? 'teams' : 'score') : key))] : ['added'];

/** Page lifecycle: installed once, by the first copy of the script. */
export function watchPageLifecycle(onVisibilityChange) {
  const each = fn => connections.forEach(fn);
  let hiddenTimer;
  addEventListener('pagehide', () => each(c => c.close(true))); // lets the page enter the back/forward cache
  addEventListener('pageshow', e => e.persisted && each(c => c.reconnectNow()));
  addEventListener('online', () => each(c => c.reconnectNow()));
  document.addEventListener('visibilitychange', () => {
    clearTimeout(hiddenTimer);
    // A tab hidden for a minute gives its socket back; a short look elsewhere keeps it.
    if (document.hidden) hiddenTimer = setTimeout(() => document.hidden && each(c => c.close(true)), 60e3);
    else each(c => c.reconnectNow());
    onVisibilityChange();
  });
}

class Connection {
  /** Every game received, by id, with the seq it was last changed at: { game, seq }. */
  gamesById = new Map();
  /** The union of the topics of every listener. */
  topics = new Set();
  /** `connecting`, `live`, `reconnecting` or `offline`. */
  status = 'connecting';
  /** When the server was last heard from (ms since the epoch), 0 before that. */
  lastHeard = 0;

  #src;
  #pollOnly;
  #key; // its name in `connections`
  #listeners = new Set();
  #socket = null;
  #stream = null; // the EventSource, while on SSE
  #retryTimer = 0;
  #watchdogTimer = 0;
  #attempt = 0; // backoff exponent; reset by a hello
  #quickFailures = 0; // WebSocket attempts in a row that failed fast
  #asleep = false; // closed on purpose (hidden, pagehide, no listeners): no retries
  #heartbeatS = 20;
  #greeted = false; // the current transport has said hello
  #serverEpoch;
  // The resume point: the epoch and highest seq applied.
  #epoch;
  #seq;
  #resyncing = false;
  #heartbeatSeq = 0;
  #statusKey = '';
  // The poll transport: on while polling, even when WebSocket or SSE is being tried meanwhile.
  #polling = false;
  #pollTimer = 0;
  #pollRound = 0; // counts polls and stops, so that an answer to a poll that no longer counts is ignored
  #pollFailures = 0;
  #pollIntervalMs = 1e3; // until the server says (X-Poll-Interval)
  #pollUrl = ''; // the canonical URL of the topics, once the server has answered it
  #etag = '';

  constructor(src, pollOnly, key) {
    this.#src = src;
    this.#pollOnly = pollOnly;
    this.#key = key;
  }

  get transport() {
    return this.#polling ? 'poll' : this.#stream ? 'sse' : 'websocket';
  }

  add(listener) {
    this.#listeners.add(listener);
    this.refreshTopics();
    if (!this.#socket && !this.#stream && !this.#retryTimer && !this.#polling) this.#open();
    listener.onStatus();
  }

  remove(listener) {
    this.#listeners.delete(listener);
    if (this.#listeners.size) return this.refreshTopics();
    // Deferred, so that an element moved in the DOM (removed, then added) keeps the socket.
    setTimeout(() => {
      if (this.#listeners.size) return;
      this.close(true);
      if (connections.get(this.#key) === this) connections.delete(this.#key);
    });
  }

  /** Reconnect without waiting (online, pageshow, tab visible again). */
  reconnectNow() {
    this.#attempt = 0;
    if (!this.#socket) this.#open();
  }

  close(asleep) {
    const polling = this.#polling;
    this.#asleep = asleep;
    this.#greeted = false;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#watchdogTimer);
    this.#retryTimer = 0;
    this.#stopPolling();
    if (this.#drop() || polling) this.#setStatus('reconnecting');
  }

  /** Recomputes the topics from the listeners and (un)subscribes the difference. */
  refreshTopics() {
    const wanted = new Set();
    this.#listeners.forEach(l => l.topics.forEach(t => wanted.add(t)));
    const added = [...wanted].filter(t => !this.topics.has(t)), removed = [...this.topics].filter(t => !wanted.has(t));
    this.topics = wanted;
    if (this.#greeted || this.#stream) {
      if (removed.length) this.#send({ type: 'unsubscribe', topics: removed });
      if (added.length) this.#subscribe(added);
    }
    // Other topics are another URL, and the ETag is the server's position, not the document's.
    if (this.#polling && (added.length || removed.length)) {
      this.#pollUrl = this.#etag = '';
      this.#poll();
    }
    if (removed.length) for (const [id, entry] of this.gamesById) if (!anyTopicMatches(wanted, entry.game)) this.gamesById.delete(id);
    this.#listeners.forEach(l => l.onTopicsChanged());
  }

  #open() {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = 0;
    this.#asleep = false;
    if (this.#socket || !this.#listeners.size) return;
    if (this.#pollOnly) return this.#poll();
    // Two sockets failed in a row (a proxy?): SSE now, WebSocket again later, in the background.
    // While polling (SSE failed too) the background attempts take turns: SSE, WebSocket, SSE, …
    if (this.#quickFailures >= FAILURES_BEFORE_SSE && !this.#stream && !(this.#polling && this.#attempt % 2)) {
      this.#openStream();
      return this.#retry();
    }
    let socket;
    const openedAt = Date.now();
    try {
      socket = new WebSocket(this.#src);
    } catch {
      return this.#retry();
    }
    this.#socket = socket;
    this.#armWatchdog();
    socket.onmessage = e => this.#socket === socket && this.#receive(e.data, socket);
    // Every close is the same to the resume logic: the next hello resubscribes with `since`, so
    // an abrupt drop (1006) and a slow-client close (1013) both come back without losing events.
    socket.onclose = e => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      const quick = Date.now() - openedAt < QUICK_CLOSE_MS && e.code !== CLOSE_TRY_AGAIN_LATER;
      this.#quickFailures = quick ? this.#quickFailures + 1 : 0;
      if (this.#quickFailures >= FAILURES_BEFORE_SSE && !this.#stream && !this.#polling) this.#open();
      else this.#retry();
    };
  }

  /** Opens the SSE stream; `fresh` asks for a snapshot instead of resuming. */
  #openStream(fresh) {
    this.#stream?.close();
    const url = this.#httpUrl('sse?topics=') + encodeURIComponent([...this.topics]) +
      (fresh || this.#seq == null ? '' : `&lastEventId=${this.#epoch}:${this.#seq}`);
    const stream = this.#stream = new EventSource(url);
    stream.onmessage = e => this.#stream === stream && this.#receive(e.data);
    // EventSource reconnects by itself (with Last-Event-ID) unless it gave up (CLOSED). Giving up
    // before its hello (an error status, a proxy's refusal) is SSE failing: polling takes over.
    stream.onerror = () => {
      if (this.#stream !== stream) return;
      if (stream.readyState === EventSource.CLOSED) {
        this.#stream = null;
        if (!this.#greeted && !this.#polling) this.#poll();
        this.#retry();
      } else if (!this.#polling) this.#setStatus('reconnecting');
    };
  }

  /** `src` (`wss://host/ws`) made the http(s) URL of another path of the same server. */
  #httpUrl(path) {
    return this.#src.replace(/^ws/, 'http').replace(/ws$/, path);
  }

  /** One poll of the snapshot document (PROTOCOL.md, "Polling the snapshot"), then the next one
   *  X-Poll-Interval later: with If-None-Match, so that a cache (CDN mode) answers most with 304. */
  async #poll() {
    clearTimeout(this.#pollTimer);
    this.#polling = true;
    const round = ++this.#pollRound;
    // The server redirects every other spelling of the topics to their canonical URL: the URL that
    // answered is the one asked from then on. A 304 is not `ok`; a network error answers 0.
    const response = await fetch(this.#pollUrl || this.#httpUrl('api/v1/games?topics=') + [...this.topics],
      { headers: { 'if-none-match': this.#etag } }).catch(() => 0);
    const body = response.ok && await response.json().catch(() => 0);
    if (round !== this.#pollRound) return; // stopped, or another poll started meanwhile
    if (body || response.status === 304) {
      this.#pollFailures = 0;
      this.#pollIntervalMs = response.headers.get('x-poll-interval') * 1e3 || this.#pollIntervalMs;
      this.lastHeard = Date.now();
      if (body) {
        this.#pollUrl = response.url;
        this.#etag = response.headers.get('etag');
        this.#onPolled(body);
      }
      this.#setStatus('live');
    } else this.#setTrouble(++this.#pollFailures);
    this.#pollTimer = setTimeout(() => this.#poll(), Math.min(MAX_BACKOFF_MS, this.#pollIntervalMs * 2 ** this.#pollFailures));
  }

  #stopPolling() {
    clearTimeout(this.#pollTimer);
    this.#polling = false;
    this.#pollRound++;
  }

  /** A polled document is the whole truth for its topics. The first one (or one of another epoch)
   *  is a snapshot; after that its games become updates (#onEvents skips those that did not
   *  change) and the games missing from it removals, as if streamed. */
  #onPolled(polled) {
    const gone = new Map(this.gamesById), seq = polled.seq;
    this.#serverEpoch = polled.epoch;
    if (polled.epoch !== this.#epoch) return this.#onSnapshot(polled);
    this.#advance(seq); // first: a complete document has no gap for #noticeGap to find
    for (const game of polled.games) gone.delete(game.id);
    this.#onEvents([...polled.games.map(game => ({ type: 'update', game, seq })), ...[...gone.keys()].map(id => ({ type: 'remove', id, seq }))]);
  }

  #setTrouble(failures) {
    this.#setStatus(failures >= ATTEMPTS_BEFORE_OFFLINE || !navigator.onLine ? 'offline' : 'reconnecting');
  }

  #retry() {
    if (!this.#stream) {
      this.#greeted = false;
      clearTimeout(this.#watchdogTimer);
      if (!this.#polling) this.#setTrouble(this.#attempt);
    }
    if (this.#asleep || this.#socket || this.#retryTimer || !this.#listeners.size) return;
    // Full jitter: a random delay up to the exponential bound, so a restart is not stormed.
    this.#retryTimer = setTimeout(() => this.#open(), Math.random() * Math.min(MAX_BACKOFF_MS, 1e3 * 2 ** this.#attempt++));
  }

  /** Drops both transports without triggering their close handlers; says whether there was one. */
  #drop() {
    const socket = this.#socket, stream = this.#stream;
    this.#socket = this.#stream = null;
    stream?.close();
    if (socket) {
      socket.onclose = null;
      socket.close(1000);
    }
    return socket || stream;
  }

  // Heartbeat + 10 s of silence means the connection is dead. A timer that fires late (background
  // tabs throttle timers) first gives the frames queued meanwhile a moment to be read.
  #armWatchdog() {
    clearTimeout(this.#watchdogTimer);
    const limit = (this.#heartbeatS + 10) * 1e3, armedAt = Date.now();
    this.#watchdogTimer = setTimeout(() => {
      if (Date.now() - armedAt > limit + 5e3) this.#watchdogTimer = setTimeout(() => this.#checkSilence(limit), 2e3);
      else this.#checkSilence(limit);
    }, limit);
  }

  #checkSilence(limit) {
    if (Date.now() - this.lastHeard < limit) return this.#armWatchdog();
    // A socket that never said hello counts towards the SSE fallback.
    if (this.#greeted) this.#attempt = 0;
    else this.#quickFailures++;
    this.#drop();
    this.#retry();
  }

  #send(message) {
    if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify(message));
  }

  /** A stream cannot resubscribe: it is reopened for a fresh snapshot instead. */
  #subscribe(topics, since) {
    if (this.#stream) this.#openStream(true);
    else this.#send({ type: 'subscribe', topics, since });
  }

  #setStatus(status) {
    if (status + this.transport === this.#statusKey) return;
    this.status = status;
    this.#statusKey = status + this.transport;
    this.#listeners.forEach(l => l.onStatus());
  }

  /** One frame, from the socket (`socket` set) or the stream. */
  #receive(data, socket) {
    this.lastHeard = Date.now(); // any frame is a sign of life
    this.#armWatchdog();
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    switch (message.type) {
      case 'hello': return this.#onHello(message, socket);
      case 'snapshot': return this.#onSnapshot(message);
      case 'update': case 'remove': case 'batch': return this.#onEvents(message.type === 'batch' ? message.events : [message]);
      case 'heartbeat':
        // A heartbeat names the latest seq: still missing a heartbeat later means a lost frame.
        this.#noticeGap(this.#heartbeatSeq);
        this.#heartbeatSeq = message.seq;
        return;
      case 'error': console.warn('score-ticker:', message.code, message.message);
    }
  }

  #onHello(hello, socket) {
    this.#stopPolling(); // a better transport works (again)
    this.#heartbeatS = +hello.heartbeat_s || 20;
    this.#serverEpoch = hello.epoch;
    this.#greeted = true;
    this.#resyncing = false;
    this.#heartbeatSeq = 0;
    this.#armWatchdog();
    if (socket) {
      // WebSocket works (again): it replaces the stream, resuming where the stream was.
      this.#quickFailures = this.#attempt = 0;
      this.#stream?.close();
      this.#stream = null;
      if (this.topics.size) this.#subscribe([...this.topics], this.#seq != null ? { epoch: this.#epoch, seq: this.#seq } : undefined);
    }
    this.#setStatus('live');
  }

  #onSnapshot(snapshot) {
    const ids = new Set(snapshot.games.map(g => g.id)), covered = snapshot.topics || [...this.topics];
    // The snapshot is the whole truth for its topics: games of those topics not in it are gone.
    for (const [id, entry] of this.gamesById) if (!ids.has(id) && covered.some(t => topicMatches(t, entry.game))) this.gamesById.delete(id);
    for (const game of snapshot.games) this.gamesById.set(game.id, { game, seq: snapshot.seq });
    this.#resyncing = false;
    this.#advance(snapshot.seq);
    this.#listeners.forEach(l => l.onGames(null));
  }

  #onEvents(events) {
    const applied = [];
    for (const event of events) {
      const id = event.id || event.game.id, previous = this.gamesById.get(id);
      // Already applied (a replay overlapping a snapshot), or a polled game that did not change.
      if (previous && (previous.seq >= event.seq || JSON.stringify(previous.game) === JSON.stringify(event.game))) continue;
      this.#noticeGap(event.seq - 1);
      if (event.type === 'update') this.gamesById.set(id, { game: event.game, seq: event.seq });
      else if (event.type === 'remove') this.gamesById.delete(id);
      else continue;
      this.#advance(event.seq);
      applied.push({ game: event.game || previous?.game, changes: event.changes || (event.game ? changesBetween(previous?.game, event.game) : ['removed']), previousGame: previous?.game, removed: event.type === 'remove' });
    }
    if (applied.length) this.#listeners.forEach(l => l.onGames(applied));
  }

  // Only a subscription to `all` sees every seq, so only there is a hole a lost frame; with
  // narrower topics the server's own resync guarantees nothing is missed.
  #noticeGap(seq) {
    if (this.topics.has('all') && !this.#resyncing && this.#seq != null && this.#epoch === this.#serverEpoch && seq > this.#seq) {
      this.#resyncing = true;
      this.#subscribe([...this.topics]);
    }
  }

  #advance(seq) {
    if (this.#epoch !== this.#serverEpoch) {
      this.#epoch = this.#serverEpoch;
      this.#seq = seq;
    } else this.#seq = Math.max(this.#seq ?? 0, seq);
  }
}
