// The <score-ticker> element: attributes, layout (scroll, strip, list), the scrolling animation,
// pausing, announcements, and turning the connection's games into DOM. Everything it keeps is
// #private: the page sees the element's attributes, parts and events, nothing else.
import css from './styles.css';
import { connectionFor, watchPageLifecycle } from './connection.js';
import { anyTopicMatches } from './topics.js';
import { Formatter, sidesInOrder } from './format.js';
import { gameHtml, gameLink } from './render.js';

/** Live games first, then scheduled, then finals; within each, by start time. */
const STATE_ORDER = { live: 0, break: 0, delayed: 1, scheduled: 2, final: 3 };
const reducedMotion = matchMedia('(prefers-reduced-motion: reduce)');
/** Without `src`, the server the script itself came from. Read now: currentScript is gone later. */
const DEFAULT_SRC = new URL('/ws', document.currentScript?.src || location).href.replace(/^http/, 'ws');
const SCROLL_SPEED = 60; // px per second, unless --st-speed says otherwise

const TEMPLATE = '<div class=bar part=bar><button class=pp part="control pause" aria-pressed=false><i></i></button>' +
  '<span class=st part=status><i></i><span></span></span><button class=nav part="control prev"><i></i></button>' +
  '<div class=vp part=viewport><div class=tr part=track><ul class=ls part=list></ul><ul class=ls aria-hidden=true inert></ul>' +
  '</div></div><button class=nav part="control next"><i></i></button><div class=sr role=status></div></div>';

// setAttribute, not ARIA reflection (element.ariaLabel): Firefox reflects only from 119.
const setAttribute = (element, name, value) => element.setAttribute(name, value);

let sheet; // one stylesheet, adopted by every instance
const widgets = new Set(); // the connected widgets, for page-wide events

export class ScoreTicker extends HTMLElement {
  static observedAttributes = ['src', 'topics', 'mode', 'lang', 'href', 'announce', 'logos', 'transport'];

  /** Called once, by the first copy of the script on the page. */
  static defineAs(tag) {
    watchPageLifecycle(() => widgets.forEach(widget => widget.#play()));
    reducedMotion.addEventListener('change', () => widgets.forEach(widget => widget.#layout()));
    customElements.define(tag, ScoreTicker);
  }

  // The shadow DOM's parts (TEMPLATE).
  #bar;
  #pauseButton;
  #statusText;
  #viewport;
  #track;
  #list;
  #copy;
  #prevButton;
  #nextButton;
  #announcer;
  #internals;
  #connection;
  #pollOnly; // transport="poll"
  /** What the connection calls (see connection.js); `topics` is this widget's own. */
  #listener = {
    topics: [],
    onStatus: () => this.#showStatus(),
    onGames: events => this.#onGames(events),
    onTopicsChanged: () => this.#render(),
  };
  #format;
  #layoutName; // scroll, strip or list
  /** The rendered games by id: { li, html, game }. */
  #items = new Map();
  #paused;
  #stale; // updates arrived while paused
  #hovered;
  #focused;
  #visible = true;
  #animation;
  #animatedWidth;
  #animatedDuration;
  #announcements = [];
  #announceTimer;
  #intersection;
  #resize;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    if (!sheet) {
      sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
    }
    root.adoptedStyleSheets = [sheet];
    root.innerHTML = TEMPLATE;
    const find = selector => root.querySelector(selector);
    this.#bar = find('.bar');
    this.#pauseButton = find('.pp');
    this.#statusText = find('.st span');
    this.#viewport = find('.vp');
    this.#track = find('.tr');
    this.#list = find('.ls');
    this.#copy = find('[inert]'); // the second copy of the games, for a seamless scroll loop
    this.#prevButton = find('[part~=prev]');
    this.#nextButton = find('[part~=next]');
    this.#announcer = find('[role=status]');
    try {
      this.#internals = this.attachInternals();
      this.#internals.role = 'region';
    } catch { /* no ElementInternals: the element just has no role */ }
    this.#pauseButton.onclick = () => this.#setPaused(!this.#paused);
    this.#prevButton.onclick = () => this.#page(-1);
    this.#nextButton.onclick = () => this.#page(1);
    this.#viewport.onscroll = () => this.#updateEnds();
    // The scroll stops while the pointer is over it or focus is inside it.
    const track = (event, set) => this.addEventListener(event, () => { set(); this.#play(); });
    track('pointerenter', () => this.#hovered = true);
    track('pointerleave', () => this.#hovered = false);
    track('focusin', () => this.#focused = true);
    track('focusout', () => this.#focused = false);
  }

  connectedCallback() {
    widgets.add(this);
    this.#intersection = new IntersectionObserver(entries => { this.#visible = entries.at(-1).isIntersecting; this.#play(); });
    this.#intersection.observe(this);
    this.#resize = new ResizeObserver(() => this.#animate());
    this.#resize.observe(this.#list);
    this.#resize.observe(this.#viewport);
    this.#localize();
    this.#layout();
    this.#attach();
  }

  disconnectedCallback() {
    widgets.delete(this);
    this.#intersection.disconnect();
    this.#resize.disconnect();
    this.#connection?.remove(this.#listener);
    this.#connection = null;
    this.#animation?.cancel();
    this.#animation = null;
  }

  attributeChangedCallback(name, old, value) {
    // The widget writes `transport` itself, to show the one in use: only other values are the
    // page's, and of those only "poll" asks for something.
    if (name === 'transport') {
      if (value === this.#connection?.transport) return;
      this.#pollOnly = value === 'poll';
    }
    if (!this.#connection) return; // not connected yet: connectedCallback reads everything
    if (name === 'src' || name === 'transport') this.#attach();
    else if (name === 'topics') {
      this.#readTopics();
      this.#connection.refreshTopics();
    } else if (name === 'mode') this.#layout();
    else this.#localize(); // lang, href, announce, logos: everything is drawn again
  }

  #readTopics() {
    this.#listener.topics = (this.getAttribute('topics') || 'all').split(/[\s,]+/).filter(Boolean);
  }

  #attach() {
    const connection = connectionFor(this.getAttribute('src') || DEFAULT_SRC, this.#pollOnly);
    if (this.#connection === connection) return;
    this.#connection?.remove(this.#listener);
    this.#readTopics();
    (this.#connection = connection).add(this.#listener);
  }

  #localize() {
    this.#format = new Formatter(this.getAttribute('lang') || this.closest('[lang]')?.lang || navigator.language || 'en');
    const text = this.#format.uiText;
    setAttribute(this.#pauseButton, 'aria-label', text.pauseLabel);
    setAttribute(this.#prevButton, 'aria-label', text.prevLabel);
    setAttribute(this.#nextButton, 'aria-label', text.nextLabel);
    setAttribute(this.#track, 'aria-label', text.regionName);
    if (this.#internals) this.#internals.ariaLabel = text.regionName;
    this.#items.forEach(item => item.renderedHtml = '');
    this.#render();
    if (this.#connection) this.#showStatus();
  }

  #layout() {
    const mode = this.getAttribute('mode');
    // Reduced motion turns the scroll into a static strip with previous/next.
    const name = this.#layoutName = mode === 'list' ? 'list' : mode === 'strip' || reducedMotion.matches ? 'strip' : 'scroll';
    this.#bar.className = 'bar ' + name;
    setAttribute(this.#track, 'role', name === 'scroll' ? 'marquee' : 'group');
    if (name === 'scroll') this.#viewport.removeAttribute('tabindex');
    else this.#viewport.tabIndex = 0; // a scrollable region must be reachable by keyboard
    this.#render();
    this.#animate();
  }

  #showStatus() {
    const { linkStatus: status, lastHeard, transport } = this.#connection, text = this.#format.uiText;
    this.#bar.dataset.st = status;
    this.#statusText.textContent = text[status] +
      (status !== 'live' && lastHeard ? ` · ${text.updatedLabel} ${this.#format.timeOfDay.format(lastHeard)}` : '');
    this.setAttribute('transport', transport);
    this.#fire('ticker:status', { status, lastUpdate: lastHeard || null, transport });
  }

  #fire(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  #isMine(game) {
    return game && anyTopicMatches(this.#listener.topics, game);
  }

  #myGames() {
    return [...this.#connection.gamesById.values()].map(entry => entry.game).filter(game => this.#isMine(game));
  }

  /** `events` is null for a snapshot. Events are reported even while paused. */
  #onGames(events) {
    if (!events) this.#fire('ticker:update', { snapshot: true, games: this.#myGames() });
    else for (const event of events) if (this.#isMine(event.game)) {
      this.#fire('ticker:update', { game: event.game, changes: event.changes, removed: event.removed });
      this.#announce(event);
    }
    this.#render();
  }

  // Goals (not baskets: too many to read) and finals, gathered for 2 s; silent while paused.
  #announce({ game, previousGame: previous, changes, removed }) {
    if (!this.hasAttribute('announce') || this.#paused || !previous || removed) return;
    const final = game.status.state === 'final' && previous.status.state !== 'final',
      goal = game.sport !== 'basketball' && changes.includes('score');
    if (!final && !goal) return;
    const text = this.#format.uiText, winner = final && game.winner && game[game.winner].name;
    this.#announcements.push(sidesInOrder(game).map(side => `${game[side].name} ${game[side].score ?? ''}`).join(', ') +
      (final ? ', ' + text.final : '') + (winner && game.shootout ? `, ${winner}, ${text.winnerLabel}` : ''));
    clearTimeout(this.#announceTimer);
    this.#announceTimer = setTimeout(() => {
      if (!this.#paused) this.#announcer.textContent = this.#announcements.slice(-3).join('. ');
      this.#announcements = [];
    }, 2e3);
  }

  #setPaused(paused) {
    this.#paused = paused;
    setAttribute(this.#pauseButton, 'aria-pressed', paused);
    if (paused) {
      this.#announcements = [];
      this.#announcer.textContent = '';
    } else if (this.#stale) this.#render();
    this.#play();
  }

  #play() {
    const animation = this.#animation;
    if (!animation) return;
    if (this.#paused || this.#hovered || this.#focused || !this.#visible || document.hidden) animation.pause();
    else animation.play();
  }

  #page(direction) {
    const viewport = this.#viewport;
    viewport.scrollBy(direction * viewport.clientWidth * 0.8, 0);
  }

  /** Previous/next are disabled at either end of the strip. */
  #updateEnds() {
    const viewport = this.#viewport, left = Math.abs(viewport.scrollLeft);
    setAttribute(this.#prevButton, 'aria-disabled', left < 1);
    setAttribute(this.#nextButton, 'aria-disabled', left + viewport.clientWidth >= viewport.scrollWidth - 1);
  }

  // The scroll moves the track by one copy's width, forever; the second copy makes the loop seamless.
  #animate() {
    const width = this.#list.offsetWidth, scrolling = this.#layoutName === 'scroll' && width > this.#viewport.clientWidth;
    this.#copy.hidden = !scrolling;
    if (!scrolling) {
      this.#animation?.cancel();
      this.#animation = null;
      return this.#updateEnds();
    }
    if (!this.#animation || this.#animatedWidth !== width) {
      const duration = width / (parseFloat(getComputedStyle(this).getPropertyValue('--st-speed')) || SCROLL_SPEED) * 1e3;
      const animation = this.#track.animate([{ transform: 'none' }, { transform: `translateX(${-width}px)` }], { duration, iterations: Infinity });
      // New width (games came or went): carry on from the same place rather than jump back.
      if (this.#animation) {
        animation.currentTime = this.#animation.currentTime % this.#animatedDuration / this.#animatedDuration * duration;
        this.#animation.cancel();
      }
      this.#animation = animation;
      this.#animatedWidth = width;
      this.#animatedDuration = duration;
    }
    this.#play();
  }

  #render() {
    const connection = this.#connection, list = this.#list;
    if (!connection) return;
    if (this.#paused) return this.#stale = true; // paused means no updating either
    this.#stale = false;
    const games = this.#myGames().sort((a, b) => (STATE_ORDER[a.status.state] ?? 4) - (STATE_ORDER[b.status.state] ?? 4) ||
      (a.start || '').localeCompare(b.start || '') || a.id.localeCompare(b.id));
    const changedScores = [], options = { logos: this.hasAttribute('logos') }, linkTemplate = this.getAttribute('href');
    for (const game of games) {
      let item = this.#items.get(game.id);
      if (!item) {
        const li = document.createElement('li');
        li.part = 'game';
        li.dataset.id = game.id;
        this.#items.set(game.id, item = { li, renderedHtml: '' });
      }
      const li = item.li, html = gameHtml(game, this.#format, { ...options, link: gameLink(linkTemplate, game) });
      li.className = 'g s-' + game.status.state;
      if (item.renderedHtml !== html) {
        li.innerHTML = item.renderedHtml = html;
        for (const side of ['home', 'away']) {
          const before = item.game?.[side].score;
          if (before != null && before !== game[side].score) changedScores.push(li.querySelector(`.${side} .sc`));
        }
      }
      item.game = game;
      list.append(li); // in order
    }
    const shown = new Set(games.map(game => game.id));
    for (const [id, item] of this.#items) if (!shown.has(id)) {
      item.li.remove();
      this.#items.delete(id);
    }
    const none = list.querySelector('.none');
    if (games.length) none?.remove();
    else if (!none && connection.linkStatus !== 'connecting') list.innerHTML = `<li class="g none">${this.#format.uiText.noGamesText}</li>`;
    if (changedScores.length) {
      changedScores.forEach(score => score.classList.add('hit'));
      setTimeout(() => changedScores.forEach(score => score.classList.remove('hit')), 2e3);
    }
    this.#copy.replaceChildren(...(this.#layoutName === 'scroll' ? [...list.children].map(li => li.cloneNode(true)) : []));
    this.#updateEnds();
  }
}
