// Texts and formats: English and Spanish strings, and every number and date through Intl in the
// reader's exact locale (es-MX, en-GB, …).

const STRINGS = {
  en: {
    name: 'Live scores', pause: 'Pause scores', prev: 'Previous', next: 'Next',
    connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', offline: 'Offline', updated: 'last updated',
    final: 'Final', overtime: 'OT', break: 'Break', postponed: 'Postponed', delayed: 'Delayed', canceled: 'Canceled',
    none: 'No games right now', winner: 'winner', possession: 'has possession', rank: 'No.',
    pens: 'pens', outs: 'out', top: 'Top', bottom: 'Bottom', middle: 'Mid', end: 'End',
    bases: ['third', 'second', 'first'], runners: 'Runners on', empty: 'Bases empty',
  },
  es: {
    name: 'Marcadores en directo', pause: 'Pausar marcadores', prev: 'Anteriores', next: 'Siguientes',
    connecting: 'Conectando…', live: 'En directo', reconnecting: 'Reconectando…', offline: 'Sin conexión', updated: 'actualizado',
    final: 'Final', overtime: 'Prórroga', break: 'Descanso', postponed: 'Aplazado', delayed: 'Retrasado', canceled: 'Cancelado',
    none: 'No hay partidos ahora', winner: 'ganador', possession: 'con posesión', rank: 'n.º',
    pens: 'pen.', outs: 'outs', top: 'Alta', bottom: 'Baja', middle: 'Mitad', end: 'Fin',
    bases: ['tercera', 'segunda', 'primera'], runners: 'Corredores en', empty: 'Bases vacías',
  },
};

/** Periods in regulation, for the sports whose later periods are overtime. */
const REGULATION_PERIODS = { basketball: 4, football: 4, hockey: 3, soccer: 2 };
const HALF_ARROWS = { top: '▲', bottom: '▼' };

export const escapeHtml = text => String(text ?? '').replace(/[&<>"']/g, c => '&#' + c.charCodeAt(0) + ';');

/** Visible text that a screen reader hears differently (an arrow, an abbreviation). */
export const spoken = (visible, said) => `<span aria-hidden=true>${escapeHtml(visible)}</span><span class=sr>${escapeHtml(said)}</span>`;

/** The sides in display order: soccer lists the home side first, other sports the away side. */
export const sidesInOrder = game => (game.sport === 'soccer' ? ['home', 'away'] : ['away', 'home']);

export class Formatter {
  /** The strings of the language: `this.uiText.final`, … */
  uiText;
  localeTag;
  #english;
  #numbers;
  #ordinals;
  timeOfDay;

  constructor(requested) {
    let locale = requested;
    try {
      this.#numbers = new Intl.NumberFormat(locale);
    } catch {
      this.#numbers = new Intl.NumberFormat(locale = 'en');
    }
    this.localeTag = locale;
    this.#english = !/^es\b/i.test(locale);
    this.uiText = STRINGS[this.#english ? 'en' : 'es'];
    this.timeOfDay = new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit' });
    this.#ordinals = new Intl.PluralRules(locale, { type: 'ordinal' });
  }

  formatNumber(n) {
    return this.#numbers.format(n);
  }

  ordinalOf(n) {
    return this.#english ? n + ({ one: 'st', two: 'nd', few: 'rd' }[this.#ordinals.select(n)] || 'th') : n + '.º';
  }

  /** The game's state as HTML: start time, clock and period, inning, "Final", with the shootout. */
  stateHtml(game) {
    const text = this.uiText, status = game.status, state = status.state, shootout = game.shootout;
    let html;
    if (state === 'scheduled') html = game.start ? escapeHtml(this.#startTime(new Date(game.start))) : '';
    else if (state === 'live') html = this.#livePeriod(game);
    else if (state === 'break') html = escapeHtml(this.#english && status.detail || text.break);
    else html = escapeHtml(text[state] || status.detail || state);
    if (shootout) {
      // "(3–4 pens)", in the display order of the scores beside it.
      const [first, second] = sidesInOrder(game).map(side => this.formatNumber(shootout[side]));
      html += ` (${first}${this.#english ? '–' : '-'}${second} ${text.pens})`;
    }
    return html;
  }

  #startTime(start) {
    const options = { hour: 'numeric', minute: '2-digit' };
    if (start.toDateString() !== new Date().toDateString()) Object.assign(options, { month: 'short', day: 'numeric' });
    return new Intl.DateTimeFormat(this.localeTag, options).format(start);
  }

  #livePeriod(game) {
    const text = this.uiText, { clock, period } = game.status, half = game.situation?.half, regulation = REGULATION_PERIODS[game.sport];
    if (half && period) {
      // Baseball: "▲7 · 2 out", read as "Top 7th, 2 out".
      const outs = game.situation.outs, outsText = outs != null && HALF_ARROWS[half] ? ` · ${this.formatNumber(outs)} ${outs === 1 ? 'out' : text.outs}` : '';
      return spoken((HALF_ARROWS[half] || text[half] + ' ') + period + outsText, `${text[half]} ${this.ordinalOf(period)}${outsText && ',' + outsText.slice(2)}`);
    }
    // Soccer's clock (86') says the half by itself; later periods of other sports are overtime ("2OT").
    const periodText = !period || game.sport === 'soccer' && clock ? ''
      : regulation && period > regulation ? (period - regulation > 1 ? period - regulation : '') + text.overtime
      : this.ordinalOf(period);
    return escapeHtml([clock, periodText].filter(Boolean).join(' · ') || text.live);
  }

  /** The bases as a scorer sees them from home plate, third to first: "◇◆◆", read "Runners on second, first". */
  runnersOnBase(runners) {
    const text = this.uiText, bases = ['third', 'second', 'first'], on = text.bases.filter((_, i) => runners[bases[i]]);
    return spoken(bases.map(base => runners[base] ? '◆' : '◇').join(''), on.length ? `${text.runners} ${on.join(', ')}` : text.empty);
  }
}
