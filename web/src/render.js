// One game as HTML. Pure: the game, a Formatter and the options in, a string out, so the element
// can compare it with what is on screen and touch the DOM only when something changed.
import { escapeHtml, sidesInOrder } from './format.js';

/** The winning side of a final: the model's `winner` (which knows shootouts), else the higher score. */
function winnerOf(game) {
  if (game.status.state !== 'final') return null;
  if (game.winner) return game.winner;
  const { home, away } = game;
  return home.score > away.score ? 'home' : away.score > home.score ? 'away' : null;
}

/** `options`: { link, logos }. */
export function gameHtml(game, format, { link, logos }) {
  const text = format.uiText, winner = winnerOf(game), situation = game.situation || {};
  const team = side => {
    const t = game[side], won = winner === side, lost = winner && !won;
    const rank = t.rank ? `<span class=rk aria-hidden=true>${t.rank}</span>` : '';
    const said = (t.rank ? `${text.rankLabel} ${t.rank} ` : '') + t.name + (won ? ', ' + text.winnerLabel : '') +
      (situation.possession === side ? ', ' + text.possessionLabel : '');
    return `<span class="t ${side}${won ? ' w' : lost ? ' l' : ''}" part="team ${side}${won ? ' winner' : ''}">` + rank +
      (logos && /^https?:/.test(t.logo) ? `<img part=logo src="${escapeHtml(t.logo)}" alt="" width=20 height=20 loading=lazy>` : '') +
      `<span class=ab aria-hidden=true>${escapeHtml(t.abbr)}</span><span class=sr>${escapeHtml(said)} </span>` +
      (situation.possession === side ? '<i class=po part=possession></i>' : '') +
      `<span class=sc part=score>${t.score == null ? '' : format.formatNumber(t.score)}</span></span> `;
  };
  // In list mode only (CSS): the runners on base, then the down, the series and the round.
  const runners = situation.runners && situation.half ? `<span class=rn>${format.runnersOnBase(situation.runners)}</span>` : '';
  const extra = [situation.down_distance, game.series, game.note].filter(Boolean).map(escapeHtml).join(' · ');
  const inner = sidesInOrder(game).map(team).join('') + `<span class=sd part=state>${format.stateHtml(game)}${runners}</span>` +
    (extra ? `<span class=x part=note>${extra}</span>` : '');
  return link ? `<a class=in part=link href="${escapeHtml(link)}">${inner}</a>` : `<span class=in>${inner}</span>`;
}

/** The publisher's link template with the game's fields filled in, if it makes an http(s) URL. */
export function gameLink(template, game) {
  if (!template) return '';
  try {
    const url = new URL(template.replace(/\{(\w+)\}/g, (_, key) => encodeURIComponent(key === 'home' || key === 'away' ? game[key].abbr : game[key] ?? '')), document.baseURI);
    return /^https?:$/.test(url.protocol) ? url.href : '';
  } catch {
    return '';
  }
}
