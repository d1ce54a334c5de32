// Texts and formats: English and Spanish strings, and every number and date through Intl in the
// reader's exact locale (es-MX, en-GB, …).

const STRINGS = {
  en: {
    regionName: 'Live scores', pauseLabel: 'Pause scores', prevLabel: 'Previous', nextLabel: 'Next',
    connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', offline: 'Offline', updatedLabel: 'last updated',
    final: 'Final', overtimeLabel: 'OT', break: 'Break', postponed: 'Postponed', delayed: 'Delayed', canceled: 'Canceled',
    noGamesText: 'No games right now', winnerLabel: 'winner', possessionLabel: 'has possession', rankLabel: 'No.',
    pensLabel: 'pens', outsLabel: 'out', top: 'Top', bottom: 'Bottom', middle: 'Mid', end: 'End',
    baseNames: ['third', 'second', 'first'], runnersLabel: 'Runners on', basesEmpty: 'Bases empty',
  },
  es: {
    regionName: 'Marcadores en directo', pauseLabel: 'Pausar marcadores', prevLabel: 'Anteriores', nextLabel: 'Siguientes',
    connecting: 'Conectando…', live: 'En directo', reconnecting: 'Reconectando…', offline: 'Sin conexión', updatedLabel: 'actualizado',
    final: 'Final', overtimeLabel: 'Prórroga', break: 'Descanso', postponed: 'Aplazado', delayed: 'Retrasado', canceled: 'Cancelado',
    noGamesText: 'No hay partidos ahora', winnerLabel: 'ganador', possessionLabel: 'con posesión', rankLabel: 'n.º',
    pensLabel: 'pen.', outsLabel: 'outs', top: 'Alta', bottom: 'Baja', middle: 'Mitad', end: 'Fin',
    baseNames: ['tercera', 'segunda', 'primera'], runnersLabel: 'Corredores en', basesEmpty: 'Bases vacías',
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
      html += ` (${first}${this.#english ? '–' : '-'}${second} ${text.pensLabel})`;
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
      const outs = game.situation.outs, outsText = outs != null && HALF_ARROWS[half] ? ` · ${this.formatNumber(outs)} ${outs === 1 ? 'out' : text.outsLabel}` : '';
      return spoken((HALF_ARROWS[half] || text[half] + ' ') + period + outsText, `${text[half]} ${this.ordinalOf(period)}${outsText && ',' + outsText.slice(2)}`);
    }
    // Soccer's clock (86') says the half by itself; later periods of other sports are overtime ("2OT").
    const periodText = !period || game.sport === 'soccer' && clock ? ''
      : regulation && period > regulation ? (period - regulation > 1 ? period - regulation : '') + text.overtimeLabel
      : this.ordinalOf(period);
    return escapeHtml([clock, periodText].filter(Boolean).join(' · ') || text.live);
  }

  /** The bases as a scorer sees them from home plate, third to first: "◇◆◆", read "Runners on second, first". */
  runnersOnBase(runners) {
    const text = this.uiText, bases = ['third', 'second', 'first'], on = text.baseNames.filter((_, i) => runners[bases[i]]);
    return spoken(bases.map(base => runners[base] ? '◆' : '◇').join(''), on.length ? `${text.runnersLabel} ${on.join(', ')}` : text.basesEmpty);
  }
}
