/*! <score-ticker>: scoreticker's live scores widget. No dependencies. MIT. Guide: web/README.md */
(() => {
const TAG = 'score-ticker';
if (!window.customElements || customElements.get(TAG)) return; // loaded twice

const STR = {
  en: { name: 'Live scores', pause: 'Pause scores', prev: 'Previous', next: 'Next', connecting: 'Connecting…',
    live: 'Live', reconnecting: 'Reconnecting…', offline: 'Offline', upd: 'last updated', final: 'Final', ot: 'OT',
    brk: 'Break', postponed: 'Postponed', delayed: 'Delayed', canceled: 'Canceled', none: 'No games right now', win: 'winner' },
  es: { name: 'Marcadores en directo', pause: 'Pausar marcadores', prev: 'Anteriores', next: 'Siguientes',
    connecting: 'Conectando…', live: 'En directo', reconnecting: 'Reconectando…', offline: 'Sin conexión', upd: 'actualizado',
    final: 'Final', ot: 'Prórroga', brk: 'Descanso', postponed: 'Aplazado', delayed: 'Retrasado', canceled: 'Cancelado',
    none: 'No hay partidos ahora', win: 'ganador' },
};
const REG = { basketball: 4, football: 4, hockey: 3, soccer: 2 }; // periods before overtime
const ORDER = { live: 0, break: 0, delayed: 1, scheduled: 2, final: 3 };
const RM = matchMedia('(prefers-reduced-motion: reduce)');
const at = (e, a, v) => e.setAttribute(a, v);
const esc = s => String(s ?? '').replace(/[&<>"']/g, c => '&#' + c.charCodeAt(0) + ';');
const DEFAULT_SRC = new URL('/ws', document.currentScript?.src || location).href.replace(/^http/, 'ws');

const match = (t, g) => {
  const [k, a, b] = t.split(':');
  return k === 'all' || k === 'league' && g.league === a || k === 'feed' && g.feed === a || k === 'game' && g.id === t.slice(5) ||
    k === 'team' && g.league === a && [g.home, g.away].some(x => x.abbr.toUpperCase() === b.toUpperCase());
};

const DARK = '--_bg:var(--st-bg,#16181d);--_fg:var(--st-fg,#f1f3f5);--_mu:var(--st-muted,#aab1bc);--_ln:var(--st-border,#737a86);' +
  '--_ac:var(--st-accent,#ff7b7b);color-scheme:dark';
const CSS = `:host{display:block;contain:content;box-sizing:border-box;height:var(--st-height,3em);overflow:hidden;
--_bg:var(--st-bg,#fff);--_fg:var(--st-fg,#16181d);--_mu:var(--st-muted,#545b66);--_ln:var(--st-border,#8a909a);
--_ac:var(--st-accent,#c4001a);color-scheme:light;
font-size:var(--st-font-size,15px)!important;background:var(--_bg);border:1px solid var(--_ln);border-radius:var(--st-radius,6px)}
:host([hidden]){display:none}:host([mode=list]){height:var(--st-list-height,20em)}
:host([theme=dark]){${DARK}}@media(prefers-color-scheme:dark){:host([theme=auto]){${DARK}}}
*{box-sizing:border-box}[hidden],.list .nav,.scroll .nav{display:none!important}
.bar{all:initial;display:flex;align-items:center;gap:.5em;height:100%;padding:0 .4em;white-space:nowrap;color:var(--_fg);
font:1em/1.25 var(--st-font,system-ui,sans-serif);font-variant-numeric:tabular-nums}
button{font:inherit;color:inherit;background:var(--st-button-bg,color-mix(in srgb,var(--_fg) 7%,var(--_bg)));border:1px solid var(--_ln);border-radius:4px;width:1.9em;height:1.9em;
min-width:24px;min-height:24px;padding:0;display:grid;place-items:center;flex:none;cursor:pointer}
button[aria-disabled=true]{opacity:.4;cursor:default}
:focus-visible{outline:2px solid var(--_fg);outline-offset:1px}.vp:focus-visible{outline-offset:-2px}
.pp i{width:.7em;height:.75em;border:solid;border-width:0 .22em}
.pp[aria-pressed=true] i{border:0;background:currentColor;clip-path:polygon(15% 0,100% 50%,15% 100%)}
.nav i{width:.5em;height:.5em;border:solid;border-width:.15em .15em 0 0;transform:translateX(-.1em) rotate(45deg)}
[part~=prev] i{transform:translateX(.1em) rotate(-135deg)}
.st{display:flex;align-items:center;gap:.35em;flex:none;font-size:.8em;font-weight:700;color:var(--_mu)}
.st i{width:.6em;height:.6em;border-radius:50%;background:currentColor}
[data-st=live] .st{color:var(--_ac)}
.vp{flex:1;min-width:0;height:100%;overflow:hidden}.strip .vp{overflow-x:auto;scrollbar-width:thin}
.tr{display:flex;height:100%;width:max-content}
.ls{display:flex;align-items:center;margin:0;padding:0;list-style:none}
.g{display:flex;align-items:center;padding:0 .9em;border-inline-start:1px solid var(--_ln)}
.in{display:flex;align-items:center;gap:.7em;color:inherit;text-decoration:none}a.in:hover .ab{text-decoration:underline}
.t{display:flex;align-items:center;gap:.35em}.t img{width:1.3em;height:1.3em;object-fit:contain}
.ab{font-weight:600}.sc{font-weight:700;min-width:1.4em;text-align:end;padding:0 .15em;border-radius:3px}
.w .ab,.w .sc{font-weight:800}
.l{color:var(--_mu)}.sd{color:var(--_mu);font-size:.85em}.s-live .sd,.s-break .sd{color:var(--_ac);font-weight:700}
.none{color:var(--_mu);border:0}.sc:empty{display:none}
.hit{--_hi:var(--st-flash,color-mix(in srgb,var(--_ac) 28%,var(--_bg)));animation:hit 1.6s ease-out}@keyframes hit{0%,40%{background:var(--_hi)}}
@media(prefers-reduced-motion:reduce){.hit{animation:none;background:var(--_hi)}}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%)}
.bar.list{flex-wrap:wrap;align-content:flex-start;padding:.4em .6em 0}
.list .vp{flex-basis:100%;height:calc(100% - 2.6em);overflow-y:auto}
.list .tr,.list .ls{display:block;width:auto;height:auto}
.list .g{display:block;padding:.45em .2em;border:0;border-top:1px solid var(--_ln)}
.list .in{display:grid;grid-template-columns:minmax(0,12em) 1fr;gap:.1em 1em}.list .t{grid-column:1;justify-content:space-between}
.list .sd{grid-column:2;grid-row:1/3;align-self:center}`;
let sheet;

const TPL = '<div class=bar part=bar><button class=pp part="control pause" aria-pressed=false><i></i></button>' +
  '<span class=st part=status><i></i><span></span></span><button class=nav part="control prev"><i></i></button>' +
  '<div class=vp part=viewport><div class=tr part=track><ul class=ls part=list></ul><ul class=ls aria-hidden=true inert></ul>' +
  '</div></div><button class=nav part="control next"><i></i></button><div class=sr role=status></div></div>';

// one connection per src, shared (see web/README.md, Connection)
const conns = new Map(), widgets = new Set();

class Conn {
  constructor(src) {
    Object.assign(this, { src, w: new Set(), g: new Map(), topics: new Set(), n: 0, f: 0, st: 'connecting', hb: 20, last: 0 });
  }
  add(w) { this.w.add(w); this.retopic(); this.ws || this.es || this.rt || this.open(); w.stat(); }
  rm(w) {
    this.w.delete(w);
    if (this.w.size) return this.retopic();
    // deferred: moved elements reconnect
    setTimeout(() => { if (!this.w.size) { this.close(1); conns.get(this.src) === this && conns.delete(this.src); } });
  }
  open() {
    clearTimeout(this.rt); this.rt = 0; this.sleep = 0;
    if (this.ws || !this.w.size) return;
    // 2 sockets failed in a row (a proxy?): SSE now, WebSocket later
    if (this.f > 1 && !this.es) return this.sse(), this.retry();
    let ws, t = Date.now();
    try { ws = new WebSocket(this.src); } catch (e) { return this.retry(); }
    this.ws = ws; this.dog();
    ws.onmessage = e => this.ws === ws && this.msg(e.data, ws);
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null; this.f = Date.now() - t < 1e4 ? this.f + 1 : 0;
      this.f > 1 && !this.es ? this.open() : this.retry();
    };
  }
  sse(fresh) {
    this.es?.close();
    const es = this.es = new EventSource(this.src.replace(/^ws/, 'http').replace(/ws$/, 'sse?topics=') + encodeURIComponent([...this.topics]) +
      (fresh || this.seq == null ? '' : `&lastEventId=${this.ep}:${this.seq}`));
    es.onmessage = e => this.es === es && this.msg(e.data);
    es.onerror = () => this.es === es && (es.readyState > 1 ? (this.es = null, this.retry()) : this.status('reconnecting'));
  }
  now() { this.n = 0; this.ws || this.open(); }
  retry() {
    if (!this.es) { this.ok = 0; clearTimeout(this.wd); this.status(this.n > 6 || !navigator.onLine ? 'offline' : 'reconnecting'); }
    if (this.sleep || this.ws || this.rt || !this.w.size) return;
    this.rt = setTimeout(() => this.open(), Math.random() * Math.min(20e3, 1e3 * 2 ** this.n++));
  }
  kill() {
    const { ws, es } = this;
    this.ws = this.es = null; es?.close();
    ws && (ws.onclose = null, ws.close(1000));
    return ws || es;
  }
  close(sleep) {
    this.sleep = sleep; this.ok = 0; clearTimeout(this.rt); clearTimeout(this.wd); this.rt = 0;
    this.kill() && this.status('reconnecting');
  }
  // heartbeat + 10 s silent = dead
  dog() {
    clearTimeout(this.wd);
    const lim = (this.hb + 10) * 1e3, t0 = Date.now();
    this.wd = setTimeout(() => Date.now() - t0 > lim + 5e3 ? this.wd = setTimeout(() => this.stale(lim), 2e3) : this.stale(lim), lim);
  }
  stale(lim) {
    if (Date.now() - this.last < lim) return this.dog();
    this.ok ? this.n = 0 : this.f++; this.kill(); this.retry();
  }
  get tr() { return this.es ? 'sse' : 'websocket'; }
  send(o) { this.ws?.readyState === 1 && this.ws.send(JSON.stringify(o)); }
  status(s) { if (s + this.tr !== this.sk) { this.st = s; this.sk = s + this.tr; this.w.forEach(w => w.stat()); } }
  msg(data, ws) {
    this.last = Date.now(); this.dog();
    let m;
    try { m = JSON.parse(data); } catch (e) { return; }
    const t = m.type;
    if (t === 'hello') {
      this.hb = +m.heartbeat_s || 20; this.cur = m.epoch; this.ok = 1; this.rs = this.hs = 0; this.dog();
      if (ws) { this.f = this.n = 0; this.es?.close(); this.es = null; }
      if (ws && this.topics.size) this.sub([...this.topics], this.seq != null ? { epoch: this.ep, seq: this.seq } : undefined);
      this.status('live');
    } else if (t === 'snapshot') {
      const ids = new Set(m.games.map(g => g.id)), ts = m.topics || [...this.topics];
      for (const [id, o] of this.g) if (!ids.has(id) && ts.some(x => match(x, o.g))) this.g.delete(id);
      for (const g of m.games) this.g.set(g.id, { g, s: m.seq });
      this.rs = 0; this.mark(m.seq); this.emit(null);
    } else if (t === 'update' || t === 'remove' || t === 'batch') {
      const evs = [];
      for (const e of t === 'batch' ? m.events : [m]) {
        const id = e.id || e.game.id, o = this.g.get(id);
        if (o && o.s >= e.seq) continue; // stale
        this.gap(e.seq - 1);
        if (e.type === 'update') this.g.set(id, { g: e.game, s: e.seq });
        else if (e.type === 'remove') this.g.delete(id);
        else continue;
        this.mark(e.seq);
        evs.push({ game: e.game || o?.g, changes: e.changes || ['removed'], prev: o?.g, removed: e.type === 'remove' });
      }
      evs.length && this.emit(evs);
    } else if (t === 'heartbeat') { this.gap(this.hs); this.hs = m.seq; }
    else if (t === 'error') console.warn(TAG + ':', m.code, m.message);
  }
  gap(s) {
    if (this.topics.has('all') && !this.rs && this.seq != null && this.ep === this.cur && s > this.seq) { this.rs = 1; this.sub([...this.topics]); }
  }
  sub(topics, since) { this.es ? this.sse(1) : this.send({ type: 'subscribe', topics, since }); }
  mark(seq) { if (this.ep !== this.cur) { this.ep = this.cur; this.seq = seq; } else this.seq = Math.max(this.seq ?? 0, seq); }
  emit(evs) { this.w.forEach(w => w.upd(evs)); }
  retopic() {
    const nt = new Set();
    this.w.forEach(w => w.tp.forEach(t => nt.add(t)));
    const add = [...nt].filter(t => !this.topics.has(t)), rm = [...this.topics].filter(t => !nt.has(t));
    this.topics = nt;
    if (this.ok || this.es) { rm.length && this.send({ type: 'unsubscribe', topics: rm }); add.length && this.sub(add); }
    if (rm.length) for (const [id, o] of this.g) if (![...nt].some(t => match(t, o.g))) this.g.delete(id);
    this.w.forEach(w => w.render());
  }
}

const each = f => conns.forEach(f);
let hideT;
addEventListener('pagehide', () => each(c => c.close(1))); // for the bfcache
addEventListener('pageshow', e => e.persisted && each(c => c.now()));
addEventListener('online', () => each(c => c.now()));
document.addEventListener('visibilitychange', () => {
  clearTimeout(hideT);
  if (document.hidden) hideT = setTimeout(() => document.hidden && each(c => c.close(1)), 60e3); // hidden a minute
  else each(c => c.now());
  widgets.forEach(w => w.play());
});
RM.addEventListener('change', () => widgets.forEach(w => w.lay()));

class ScoreTicker extends HTMLElement {
  static observedAttributes = ['src', 'topics', 'mode', 'lang', 'href', 'announce', 'logos'];
  constructor() {
    super();
    const r = this.attachShadow({ mode: 'open' });
    sheet || (sheet = new CSSStyleSheet(), sheet.replaceSync(CSS));
    r.adoptedStyleSheets = [sheet]; r.innerHTML = TPL;
    const q = s => r.querySelector(s), $ = this.$ = {
      bar: q('.bar'), pp: q('.pp'), st: q('.st span'), vp: q('.vp'), tr: q('.tr'), a: q('.ls'), b: q('[inert]'),
      pv: q('[part~=prev]'), nx: q('[part~=next]'), sr: q('[role=status]'),
    };
    this.li = new Map(); this.vis = 1; this.q = []; this.tp = [];
    try { this.int = this.attachInternals(); this.int.role = 'region'; } catch (e) {}
    $.pp.onclick = () => this.pause(!this.paused);
    $.pv.onclick = () => this.page(-1);
    $.nx.onclick = () => this.page(1);
    $.vp.onscroll = () => this.ends();
    const on = (e, k, v) => this.addEventListener(e, () => { this[k] = v; this.play(); });
    on('pointerenter', 'hov', 1); on('pointerleave', 'hov', 0); on('focusin', 'foc', 1); on('focusout', 'foc', 0);
  }
  connectedCallback() {
    widgets.add(this);
    this.io = new IntersectionObserver(es => { this.vis = es[es.length - 1].isIntersecting; this.play(); });
    this.io.observe(this);
    this.ro = new ResizeObserver(() => this.anim());
    this.ro.observe(this.$.a); this.ro.observe(this.$.vp);
    this.loc(); this.lay(); this.attach();
  }
  disconnectedCallback() {
    widgets.delete(this); this.io.disconnect(); this.ro.disconnect();
    this.c?.rm(this); this.c = null;
    this.an?.cancel(); this.an = null;
  }
  attributeChangedCallback(n) {
    if (!this.c) return;
    if (n === 'src') this.attach();
    else if (n === 'topics') { this.tops(); this.c.retopic(); }
    else if (n === 'mode') this.lay();
    else this.loc();
  }
  tops() { this.tp = (this.getAttribute('topics') || 'all').split(/[\s,]+/).filter(Boolean); }
  attach() {
    const src = this.getAttribute('src') || DEFAULT_SRC;
    if (this.c && this.c.src === src) return;
    this.c?.rm(this);
    this.tops();
    conns.has(src) || conns.set(src, new Conn(src));
    (this.c = conns.get(src)).add(this);
  }
  loc() {
    let l = this.getAttribute('lang') || this.closest('[lang]')?.lang || navigator.language || 'en';
    try { this.nf = new Intl.NumberFormat(l); } catch (e) { this.nf = new Intl.NumberFormat(l = 'en'); }
    const S = this.S = STR[this.k = /^es\b/i.test(l) ? 'es' : 'en'], $ = this.$, A = 'aria-label';
    this.lc = l;
    this.hm = new Intl.DateTimeFormat(l, { hour: '2-digit', minute: '2-digit' });
    this.pr = new Intl.PluralRules(l, { type: 'ordinal' });
    at($.pp, A, S.pause); at($.pv, A, S.prev); at($.nx, A, S.next); at($.tr, A, S.name);
    if (this.int) this.int.ariaLabel = S.name;
    this.li.forEach(li => li._h = 0);
    this.render(); this.c && this.stat();
  }
  lay() {
    const m = this.getAttribute('mode'), L = this.L = m === 'list' ? 'list' : m === 'strip' || RM.matches ? 'strip' : 'scroll', $ = this.$;
    $.bar.className = 'bar ' + L;
    at($.tr, 'role', L === 'scroll' ? 'marquee' : 'group');
    L === 'scroll' ? $.vp.removeAttribute('tabindex') : $.vp.tabIndex = 0;
    this.render(); this.anim();
  }
  stat() {
    const c = this.c, s = c.st, S = this.S;
    this.$.bar.dataset.st = s;
    this.$.st.textContent = S[s] + (s !== 'live' && c.last ? ` · ${S.upd} ${this.hm.format(c.last)}` : '');
    at(this, 'transport', c.tr);
    this.fire('ticker:status', { status: s, lastUpdate: c.last || null, transport: c.tr });
  }
  fire(t, detail) { this.dispatchEvent(new CustomEvent(t, { detail, bubbles: true, composed: true })); }
  mine(g) { return g && this.tp.some(t => match(t, g)); }
  games() { return [...this.c.g.values()].map(o => o.g).filter(g => this.mine(g)); }
  upd(evs) {
    if (!evs) this.fire('ticker:update', { snapshot: true, games: this.games() });
    else for (const e of evs) if (this.mine(e.game)) {
      this.fire('ticker:update', { game: e.game, changes: e.changes, removed: e.removed });
      this.say(e);
    }
    this.render();
  }
  // goals (not baskets) and finals
  say(e) {
    const g = e.game, p = e.prev;
    if (!this.hasAttribute('announce') || this.paused || !p || e.removed) return;
    const fin = g.status.state === 'final' && p.status.state !== 'final',
      goal = g.sport !== 'basketball' && e.changes.includes('score');
    if (!fin && !goal) return;
    this.q.push(this.pair(g).map(t => `${t.name} ${t.score ?? ''}`).join(', ') + (fin ? ', ' + this.S.final : ''));
    clearTimeout(this.qt);
    this.qt = setTimeout(() => { if (!this.paused) this.$.sr.textContent = this.q.slice(-3).join('. '); this.q = []; }, 2e3);
  }
  pair(g) { return g.sport === 'soccer' ? [g.home, g.away] : [g.away, g.home]; }
  pause(v) {
    this.paused = v;
    at(this.$.pp, 'aria-pressed', v);
    if (v) { this.q = []; this.$.sr.textContent = ''; } else if (this.dirty) this.render();
    this.play();
  }
  play() {
    const a = this.an;
    a && (this.paused || this.hov || this.foc || !this.vis || document.hidden ? a.pause() : a.play());
  }
  page(d) { const v = this.$.vp; v.scrollBy(d * v.clientWidth * 0.8, 0); }
  ends() {
    const v = this.$.vp, x = Math.abs(v.scrollLeft);
    at(this.$.pv, 'aria-disabled', x < 1); at(this.$.nx, 'aria-disabled', x + v.clientWidth >= v.scrollWidth - 1);
  }
  anim() {
    const $ = this.$, W = $.a.offsetWidth, on = this.L === 'scroll' && W > $.vp.clientWidth;
    $.b.hidden = !on;
    if (!on) { this.an?.cancel(); this.an = null; return this.ends(); }
    if (!this.an || this.W !== W) {
      const d = W / (parseFloat(getComputedStyle(this).getPropertyValue('--st-speed')) || 60) * 1e3,
        an = $.tr.animate([{ transform: 'none' }, { transform: `translateX(${-W}px)` }], { duration: d, iterations: 1 / 0 });
      if (this.an) { an.currentTime = this.an.currentTime % this.D / this.D * d; this.an.cancel(); }
      Object.assign(this, { an, W, D: d });
    }
    this.play();
  }
  render() {
    const c = this.c, $ = this.$, a = $.a;
    if (!c) return;
    if (this.paused) return this.dirty = 1; // no auto-update either
    this.dirty = 0;
    const gs = this.games().sort((x, y) => (ORDER[x.status.state] ?? 4) - (ORDER[y.status.state] ?? 4) ||
      (x.start || '').localeCompare(y.start || '') || x.id.localeCompare(y.id)), hit = [];
    for (const g of gs) {
      let li = this.li.get(g.id);
      if (!li) { this.li.set(g.id, li = document.createElement('li')); at(li, 'part', 'game'); }
      li.className = 'g s-' + g.status.state;
      const h = this.html(g), o = li._g;
      if (li._h !== h) {
        li.innerHTML = li._h = h;
        if (o) ['home', 'away'].forEach(k => o[k].score != null && o[k].score !== g[k].score && hit.push(li.querySelector(`.${k} .sc`)));
      }
      li._g = g; a.append(li);
    }
    const seen = new Set(gs.map(g => g.id));
    for (const [id, li] of this.li) if (!seen.has(id)) { li.remove(); this.li.delete(id); }
    const none = a.querySelector('.none');
    if (gs.length) none && none.remove();
    else if (!none && c.st !== 'connecting') a.innerHTML = `<li class="g none">${this.S.none}</li>`;
    if (hit.length) {
      hit.forEach(e => e.classList.add('hit'));
      setTimeout(() => hit.forEach(e => e.classList.remove('hit')), 2e3);
    }
    $.b.replaceChildren(...(this.L === 'scroll' ? [...a.children].map(n => n.cloneNode(true)) : []));
    this.ends();
  }
  html(g) {
    const S = this.S, fin = g.status.state === 'final', u = this.url(g), [p, q] = this.pair(g), lg = this.hasAttribute('logos');
    const team = (t, o) => {
      const k = t === g.home ? 'home' : 'away', w = fin && t.score > o.score, l = fin && t.score < o.score;
      return `<span class="t ${k}${w ? ' w' : l ? ' l' : ''}" part="team ${k}${w ? ' winner' : ''}">` +
        (lg && /^https?:/.test(t.logo) ? `<img part=logo src="${esc(t.logo)}" alt="" width=20 height=20 loading=lazy>` : '') +
        `<span class=ab aria-hidden=true>${esc(t.abbr)}</span><span class=sr>${esc(t.name)}${w ? ', ' + S.win : ''} </span>` +
        `<span class=sc part=score>${t.score == null ? '' : this.nf.format(t.score)}</span></span> `;
    };
    const inner = team(p, q) + team(q, p) + `<span class=sd part=state>${esc(this.state(g))}</span>`;
    return u ? `<a class=in part=link href="${esc(u)}">${inner}</a>` : `<span class=in>${inner}</span>`;
  }
  url(g) {
    const t = this.getAttribute('href');
    if (!t) return '';
    try {
      const x = new URL(t.replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent(k === 'home' || k === 'away' ? g[k].abbr : g[k] ?? '')), document.baseURI);
      return /^https?:$/.test(x.protocol) ? x.href : '';
    } catch (e) { return ''; }
  }
  ord(n) {
    return this.k === 'es' ? n + '.º' : n + ({ one: 'st', two: 'nd', few: 'rd' }[this.pr.select(n)] || 'th');
  }
  state(g) {
    const S = this.S, s = g.status, st = s.state, p = s.period, r = REG[g.sport], en = this.k === 'en';
    if (st === 'scheduled') {
      if (!g.start) return '';
      const d = new Date(g.start), o = { hour: 'numeric', minute: '2-digit' };
      if (d.toDateString() !== new Date().toDateString()) Object.assign(o, { month: 'short', day: 'numeric' });
      return new Intl.DateTimeFormat(this.lc, o).format(d);
    }
    if (st === 'live') {
      const per = !p || g.sport === 'soccer' && s.clock ? '' : r && p > r ? (p - r > 1 ? p - r : '') + S.ot : this.ord(p);
      return [s.clock, per].filter(Boolean).join(' · ') || S.live;
    }
    if (st === 'break') return en && s.detail || S.brk;
    return S[st] || s.detail || st;
  }
}
customElements.define(TAG, ScoreTicker);
})();
