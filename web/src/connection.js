// One connection per `src`, shared by every widget on the page that uses it (web/README.md,
// Connection): WebSocket first, Server-Sent Events when WebSocket keeps failing, with resume
// (`since` / `lastEventId`), a heartbeat watchdog and backoff with full jitter.
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

/** The shared connection for `src`, created on first use. */
export function connectionFor(src) {
  if (!connections.has(src)) connections.set(src, new Connection(src));
  return connections.get(src);
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
  games = new Map();
  /** The union of the topics of every listener. */
  topics = new Set();
  /** `connecting`, `live`, `reconnecting` or `offline`. */
  status = 'connecting';
  /** When the server was last heard from (ms since the epoch), 0 before that. */
  lastHeard = 0;

  #src;
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

  constructor(src) {
    this.#src = src;
  }

  get src() {
    return this.#src;
  }

  get transport() {
    return this.#stream ? 'sse' : 'websocket';
  }

  add(listener) {
    this.#listeners.add(listener);
    this.refreshTopics();
    if (!this.#socket && !this.#stream && !this.#retryTimer) this.#open();
    listener.onStatus();
  }

  remove(listener) {
    this.#listeners.delete(listener);
    if (this.#listeners.size) return this.refreshTopics();
    // Deferred, so that an element moved in the DOM (removed, then added) keeps the socket.
    setTimeout(() => {
      if (this.#listeners.size) return;
      this.close(true);
      if (connections.get(this.#src) === this) connections.delete(this.#src);
    });
  }

  /** Reconnect without waiting (online, pageshow, tab visible again). */
  reconnectNow() {
    this.#attempt = 0;
    if (!this.#socket) this.#open();
  }

  close(asleep) {
    this.#asleep = asleep;
    this.#greeted = false;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#watchdogTimer);
    this.#retryTimer = 0;
    if (this.#drop()) this.#setStatus('reconnecting');
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
    if (removed.length) for (const [id, entry] of this.games) if (!anyTopicMatches(wanted, entry.game)) this.games.delete(id);
    this.#listeners.forEach(l => l.onTopicsChanged());
  }

  #open() {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = 0;
    this.#asleep = false;
    if (this.#socket || !this.#listeners.size) return;
    // Two sockets failed in a row (a proxy?): SSE now, WebSocket again later, in the background.
    if (this.#quickFailures >= FAILURES_BEFORE_SSE && !this.#stream) {
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
      if (this.#quickFailures >= FAILURES_BEFORE_SSE && !this.#stream) this.#open();
      else this.#retry();
    };
  }

  /** Opens the SSE stream; `fresh` asks for a snapshot instead of resuming. */
  #openStream(fresh) {
    this.#stream?.close();
    const url = this.#src.replace(/^ws/, 'http').replace(/ws$/, 'sse?topics=') + encodeURIComponent([...this.topics]) +
      (fresh || this.#seq == null ? '' : `&lastEventId=${this.#epoch}:${this.#seq}`);
    const stream = this.#stream = new EventSource(url);
    stream.onmessage = e => this.#stream === stream && this.#receive(e.data);
    // EventSource reconnects by itself (with Last-Event-ID) unless it gave up (CLOSED).
    stream.onerror = () => {
      if (this.#stream !== stream) return;
      if (stream.readyState === EventSource.CLOSED) {
        this.#stream = null;
        this.#retry();
      } else this.#setStatus('reconnecting');
    };
  }

  #retry() {
    if (!this.#stream) {
      this.#greeted = false;
      clearTimeout(this.#watchdogTimer);
      this.#setStatus(this.#attempt >= ATTEMPTS_BEFORE_OFFLINE || !navigator.onLine ? 'offline' : 'reconnecting');
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
    for (const [id, entry] of this.games) if (!ids.has(id) && covered.some(t => topicMatches(t, entry.game))) this.games.delete(id);
    for (const game of snapshot.games) this.games.set(game.id, { game, seq: snapshot.seq });
    this.#resyncing = false;
    this.#advance(snapshot.seq);
    this.#listeners.forEach(l => l.onGames(null));
  }

  #onEvents(events) {
    const applied = [];
    for (const event of events) {
      const id = event.id || event.game.id, previous = this.games.get(id);
      if (previous && previous.seq >= event.seq) continue; // already applied (a replay overlapping a snapshot)
      this.#noticeGap(event.seq - 1);
      if (event.type === 'update') this.games.set(id, { game: event.game, seq: event.seq });
      else if (event.type === 'remove') this.games.delete(id);
      else continue;
      this.#advance(event.seq);
      applied.push({ game: event.game || previous?.game, changes: event.changes || ['removed'], previousGame: previous?.game, removed: event.type === 'remove' });
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
