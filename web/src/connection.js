// One connection per `src`, shared by every widget on the page that uses it (web/README.md,
// Connection): WebSocket first, Server-Sent Events when WebSocket keeps failing, polling the
// snapshot document when both do (or when asked to), with resume (`since` / `lastEventId`), a
// heartbeat watchdog and backoff with full jitter.
//
// A widget joins with a *listener*, not itself, so that nothing of the element's internals is
// reachable from the page: { topics: string[], onStatus(), onGames(events|null), onTopicsChanged() }.
import { topicMatches, anyTopicMatches } from './topics.js';
import { MAX_BACKOFF_MS } from './shared.js';

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

// The fallback transports (SSE, polling) are a second file, ticker-fallback.js, loaded next to this
// one when first needed. FALLBACK_FILE (its content-addressed name, as the server serves it) and
// FALLBACK_INTEGRITY (its `sha384-…`) are baked in by build.mjs, so this file pins that one: a
// file that is not it fires `error` and never runs. The file that runs hands its transports to
// `fallbackLoaded` on the <script> element that loaded it (see fallback.js), so nothing is left on
// `window`.
const FALLBACK_URL = new URL(FALLBACK_FILE, document.currentScript?.src || location);
let fallback; // the promise of its start(connection, poll, fresh), once asked for; 0 again after a failure
const loadFallback = () => fallback ||= new Promise((resolve, reject) => document.head.append(Object.assign(document.createElement('script'),
  { src: FALLBACK_URL, integrity: FALLBACK_INTEGRITY, crossOrigin: '', fallbackLoaded: resolve, onerror: () => reject(fallback = 0) })));

/** The shared connection for `src`, created on first use; `pollOnly` (`transport="poll"`) gets
 *  one of its own that never tries WebSocket or SSE. */
export function connectionFor(src, pollOnly) {
  const key = (pollOnly ? 'poll ' : '') + src;
  if (!connections.has(key)) connections.set(key, new Connection(src, pollOnly, key));
  return connections.get(key);
}

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
  topicSet = new Set();
  /** `connecting`, `live`, `reconnecting` or `offline`. */
  linkStatus = 'connecting';
  /** When the server was last heard from (ms since the epoch), undefined before that. */
  lastHeard;

  wsUrl;
  #pollOnly;
  #key; // its name in `connections`
  #listeners = new Set();
  #socket;
  eventStream; // the EventSource, while on SSE
  #retryTimer;
  #watchdogTimer;
  #attempt = 0; // backoff exponent; reset by a hello
  #quickFailures = 0; // WebSocket attempts in a row that failed fast
  #asleep; // closed on purpose (hidden, pagehide, no listeners): no retries
  #heartbeatS = 20;
  isGreeted; // the current transport has said hello
  serverEpoch;
  // The resume point: the epoch and highest seq applied.
  resumeEpoch;
  resumeSeq;
  #resyncing;
  #heartbeatSeq;
  #statusKey;
  /** The poll transport's state (fallback.js), while polling, even when WebSocket or SSE is being
   *  tried meanwhile: { timer, … }. */
  activePoll;

  constructor(src, pollOnly, key) {
    this.wsUrl = src;
    this.#pollOnly = pollOnly;
    this.#key = key;
  }

  get transport() {
    return this.activePoll || this.#pollOnly ? 'poll' : this.eventStream ? 'sse' : 'websocket';
  }

  add(listener) {
    this.#listeners.add(listener);
    this.refreshTopics();
    if (!this.#socket && !this.eventStream && !this.#retryTimer && !this.activePoll) this.#open();
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
    const polling = this.activePoll;
    this.#asleep = asleep;
    this.isGreeted = false;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#watchdogTimer);
    this.#retryTimer = 0;
    this.#stopPolling();
    if (this.#drop() || polling) this.setStatus('reconnecting');
  }

  /** Recomputes the topics from the listeners and (un)subscribes the difference. */
  refreshTopics() {
    const wanted = new Set();
    this.#listeners.forEach(l => l.topics.forEach(t => wanted.add(t)));
    const added = [...wanted].filter(t => !this.topicSet.has(t)), removed = [...this.topicSet].filter(t => !wanted.has(t));
    this.topicSet = wanted;
    if (this.isGreeted || this.eventStream) {
      if (removed.length) this.#send({ type: 'unsubscribe', topics: removed });
      if (added.length) this.#subscribe(added);
    }
    // Other topics are another URL, and the ETag is the server's position, not the document's.
    if (this.activePoll && added.length + removed.length) this.#startFallback(true, true);
    if (removed.length) for (const [id, entry] of this.gamesById) if (!anyTopicMatches(wanted, entry.game)) this.gamesById.delete(id);
    this.#listeners.forEach(l => l.onTopicsChanged());
  }

  #open() {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = 0;
    this.#asleep = false;
    if (this.#socket || !this.#listeners.size) return;
    if (this.#pollOnly) return this.#startFallback(true);
    // Two sockets failed in a row (a proxy?): SSE now, WebSocket again later, in the background.
    // While polling (SSE failed too) the background attempts take turns: SSE, WebSocket, SSE, …
    if (this.#quickFailures >= FAILURES_BEFORE_SSE && !this.eventStream && !(this.activePoll && this.#attempt % 2)) {
      this.#startFallback();
      return this.retryLater();
    }
    let socket;
    const openedAt = Date.now();
    try {
      socket = new WebSocket(this.wsUrl);
    } catch {
      return this.retryLater();
    }
    this.#socket = socket;
    this.#armWatchdog();
    socket.onmessage = e => this.#socket === socket && this.receiveFrame(e.data, socket);
    // Every close is the same to the resume logic: the next hello resubscribes with `since`, so
    // an abrupt drop (1006) and a slow-client close (1013) both come back without losing events.
    socket.onclose = e => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      const quick = Date.now() - openedAt < QUICK_CLOSE_MS && e.code !== CLOSE_TRY_AGAIN_LATER;
      this.#quickFailures = quick ? this.#quickFailures + 1 : 0;
      if (this.#quickFailures >= FAILURES_BEFORE_SSE && !this.eventStream && !this.activePoll) this.#open();
      else this.retryLater();
    };
  }

  /** Starts a fallback transport (ticker-fallback.js, loaded on first need): polling (`poll`) or
   *  the SSE stream; `fresh` asks for a snapshot instead of resuming. A file that cannot be loaded,
   *  or that the browser refuses (not the file this build pinned), is never run: the connection
   *  stays on its retry loop, WebSocket and the fallback taking turns. */
  #startFallback(poll, fresh) {
    loadFallback().then(start => this.#asleep || !poll && this.#socket || start(this, poll, fresh), () => {
      this.#quickFailures = 1; // one more WebSocket failure and the fallback is asked again
      this.retryLater();
    });
  }

  #stopPolling() {
    clearTimeout(this.activePoll?.timer);
    this.activePoll = null;
  }

  setTrouble(failures) {
    this.setStatus(failures >= ATTEMPTS_BEFORE_OFFLINE || !navigator.onLine ? 'offline' : 'reconnecting');
  }

  retryLater() {
    if (!this.eventStream) {
      this.isGreeted = false;
      clearTimeout(this.#watchdogTimer);
      if (!this.activePoll) this.setTrouble(this.#attempt);
    }
    if (this.#asleep || this.#socket || this.#retryTimer || !this.#listeners.size) return;
    // Full jitter: a random delay up to the exponential bound, so a restart is not stormed.
    this.#retryTimer = setTimeout(() => this.#open(), Math.random() * Math.min(MAX_BACKOFF_MS, 1e3 * 2 ** this.#attempt++));
  }

  /** Drops both transports without triggering their close handlers; says whether there was one. */
  #drop() {
    const socket = this.#socket, stream = this.eventStream;
    this.#socket = this.eventStream = null;
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
    if (this.isGreeted) this.#attempt = 0;
    else this.#quickFailures++;
    this.#drop();
    this.retryLater();
  }

  #send(message) {
    if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify(message));
  }

  /** A stream cannot resubscribe: it is reopened for a fresh snapshot instead. */
  #subscribe(topics, since) {
    if (this.eventStream) this.#startFallback(false, true);
    else this.#send({ type: 'subscribe', topics, since });
  }

  setStatus(status) {
    if (status + this.transport === this.#statusKey) return;
    this.linkStatus = status;
    this.#statusKey = status + this.transport;
    this.#listeners.forEach(l => l.onStatus());
  }

  /** One frame, from the socket (`socket` set) or the stream. */
  receiveFrame(data, socket) {
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
      case 'snapshot': return this.onSnapshot(message);
      case 'update': case 'remove': case 'batch': return this.onEvents(message.type === 'batch' ? message.events : [message]);
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
    this.serverEpoch = hello.epoch;
    this.isGreeted = true;
    this.#resyncing = false;
    this.#heartbeatSeq = 0;
    this.#armWatchdog();
    if (socket) {
      // WebSocket works (again): it replaces the stream, resuming where the stream was.
      this.#quickFailures = this.#attempt = 0;
      this.eventStream?.close();
      this.eventStream = null;
      if (this.topicSet.size) this.#subscribe([...this.topicSet], this.resumeSeq != null ? { epoch: this.resumeEpoch, seq: this.resumeSeq } : undefined);
    }
    this.setStatus('live');
  }

  onSnapshot(snapshot) {
    const ids = new Set(snapshot.games.map(g => g.id)), covered = snapshot.topics || [...this.topicSet];
    // The snapshot is the whole truth for its topics: games of those topics not in it are gone.
    for (const [id, entry] of this.gamesById) if (!ids.has(id) && covered.some(t => topicMatches(t, entry.game))) this.gamesById.delete(id);
    for (const game of snapshot.games) this.gamesById.set(game.id, { game, seq: snapshot.seq });
    this.#resyncing = false;
    this.advanceTo(snapshot.seq);
    this.#listeners.forEach(l => l.onGames(null));
  }

  onEvents(events) {
    const applied = [];
    for (const event of events) {
      const id = event.id || event.game.id, previous = this.gamesById.get(id);
      if (previous?.seq >= event.seq) continue; // already applied (a replay overlapping a snapshot)
      this.#noticeGap(event.seq - 1);
      if (event.type === 'update') this.gamesById.set(id, { game: event.game, seq: event.seq });
      else if (event.type === 'remove') this.gamesById.delete(id);
      else continue;
      this.advanceTo(event.seq);
      applied.push({ game: event.game || previous?.game, changes: event.changes || ['removed'], previousGame: previous?.game, removed: event.type === 'remove' });
    }
    if (applied.length) this.#listeners.forEach(l => l.onGames(applied));
  }

  // Only a subscription to `all` sees every seq, so only there is a hole a lost frame; with
  // narrower topics the server's own resync guarantees nothing is missed.
  #noticeGap(seq) {
    if (this.topicSet.has('all') && !this.#resyncing && this.resumeSeq != null && this.resumeEpoch === this.serverEpoch && seq > this.resumeSeq) {
      this.#resyncing = true;
      this.#subscribe([...this.topicSet]);
    }
  }

  advanceTo(seq) {
    if (this.resumeEpoch !== this.serverEpoch) {
      this.resumeEpoch = this.serverEpoch;
      this.resumeSeq = seq;
    } else this.resumeSeq = Math.max(this.resumeSeq ?? 0, seq);
  }
}
