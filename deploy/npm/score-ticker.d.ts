// Types of <score-ticker> (web/README.md: Attributes, Events) and of the games its events carry
// (docs/PROTOCOL.md: The game object). tests/npm/declarations.test.mjs checks the attributes and
// events here against what web/ticker.js handles and dispatches.

/** One side of a game. */
export interface Team {
  id: string;
  name: string;
  abbr: string;
  short?: string;
  logo?: string;
  /** A poll rank, 1–98 (college sports); absent when unranked. */
  rank?: number;
  /** The season record as the upstream writes it: "45-20". */
  record?: string;
  /** A whole number, or null before the start (and for games that never started). */
  score: number | null;
}

export type GameState = 'scheduled' | 'live' | 'break' | 'final' | 'postponed' | 'delayed' | 'canceled';

export interface GameStatus {
  state: GameState;
  /** 1-based period, quarter, half or inning; absent before the start. */
  period?: number;
  /** The game clock as the upstream writes it ("5:32", "63'"); only while live or at a break. */
  clock?: string;
  /** The upstream's own short text ("8:41 - 4th", "HT"). */
  detail?: string;
}

/** The moment of play, only while live or at a break; each field only when the upstream gives it. */
export interface Situation {
  half?: 'top' | 'bottom' | 'middle' | 'end';
  outs?: number;
  balls?: number;
  strikes?: number;
  runners?: { first: boolean; second: boolean; third: boolean };
  possession?: 'home' | 'away';
  down_distance?: string;
  red_zone?: boolean;
}

/** A game as the server sends it (docs/PROTOCOL.md). Optional fields are omitted, never null. */
export interface Game {
  /** `<feed id>:<upstream id>`. */
  id: string;
  feed: string;
  league: string;
  sport: string;
  /** RFC 3339, UTC. */
  start?: string;
  status: GameStatus;
  home: Team;
  away: Team;
  /** Once final and decided: who won (a shootout's winner when there was one). */
  winner?: 'home' | 'away';
  /** A penalty shootout's own score. */
  shootout?: { home: number; away: number };
  situation?: Situation;
  series?: string;
  note?: string;
  /** When the server last saw the game change (RFC 3339). */
  updated: string;
}

/** What changed in one game (docs/PROTOCOL.md, `update`); `removed` when it left its feed. Polling
 *  sees states, not events: it names the field that differs (`start`, `league`, … too). */
export type GameChange = 'added' | 'removed' | 'score' | 'status' | 'period' | 'clock' | 'teams' | 'winner' | 'shootout' |
  'situation' | 'series' | 'note' | Exclude<keyof Game, 'home' | 'away' | 'updated'>;

/** `ticker:update` for a full state: every game matching the widget's topics. */
export interface TickerSnapshotDetail {
  snapshot: true;
  games: Game[];
}

/** `ticker:update` for one game: changed, added, or (`removed: true`) gone from its feed. */
export interface TickerGameDetail {
  game: Game;
  changes: GameChange[];
  removed: boolean;
}

export type TickerUpdateDetail = TickerSnapshotDetail | TickerGameDetail;

export type TickerStatus = 'connecting' | 'live' | 'reconnecting' | 'offline';
export type TickerTransport = 'websocket' | 'sse' | 'poll';

/** `ticker:status`: fired when the connection's status or transport changes. */
export interface TickerStatusDetail {
  status: TickerStatus;
  /** When the server was last heard from (ms since the epoch); null before that. */
  lastUpdate: number | null;
  transport: TickerTransport;
}

/** The events <score-ticker> dispatches. They bubble and are composed, so a listener on an
 *  ancestor, `document` or `window` hears them. */
export interface ScoreTickerEventMap {
  'ticker:update': CustomEvent<TickerUpdateDetail>;
  'ticker:status': CustomEvent<TickerStatusDetail>;
}

/** The attributes of <score-ticker>; every one can be changed at any time. */
export interface ScoreTickerAttributes {
  /** The WebSocket URL, `wss://host/ws`. Set it when the widget comes from a bundle: its default
   *  is the host the script was loaded from, which in a bundle is the page's own. */
  src?: string;
  /** Comma- or space-separated: `all`, `league:nba`, `feed:<id>`, `game:<id>`, `team:nba:BOS`. Default `all`. */
  topics?: string;
  /** Default `scroll`. */
  mode?: 'scroll' | 'strip' | 'list';
  /** Default `light`; `auto` follows `prefers-color-scheme`. */
  theme?: 'light' | 'dark' | 'auto';
  /** A BCP 47 tag; default the nearest `lang` on the page, then the browser's. */
  lang?: string;
  /** A link template for each game: `{id}`, `{feed}`, `{league}`, `{sport}`, `{home}`, `{away}`. */
  href?: string;
  /** Present: a polite live region announces goals and finals. */
  announce?: boolean | '';
  /** Present: show team logos. */
  logos?: boolean | '';
  /** `poll` asks for polling only; the widget writes the transport in use here itself. */
  transport?: TickerTransport;
}

/** <score-ticker>. Its API is its attributes, parts and events: it adds no properties or
 *  methods to HTMLElement's. */
export interface ScoreTickerElement extends HTMLElement {}

declare global {
  interface HTMLElementTagNameMap {
    'score-ticker': ScoreTickerElement;
  }
  // The events bubble and cross the shadow boundary, so every element, `document` and `window`
  // can hear them.
  interface GlobalEventHandlersEventMap extends ScoreTickerEventMap {}
}
