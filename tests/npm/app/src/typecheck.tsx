// Compile-time checks of the package's types, run by `tsc` and never bundled: what must type-check
// does, and each `@ts-expect-error` fails the check if the line after it is accepted (types too loose).
import type { Game, ScoreTickerElement, TickerStatusDetail } from 'scoreticker-widget/react';

// HTMLElementTagNameMap: without it, querySelector would give an Element (no `hidden`, not assignable).
const found = document.querySelector('score-ticker');
export const element: ScoreTickerElement | null = found;
export const hidden: HTMLElement['hidden'] | undefined = found?.hidden;

// The events, typed on the element, on document and on window (they bubble and are composed).
found?.addEventListener('ticker:status', event => {
  const detail: TickerStatusDetail = event.detail;
  // @ts-expect-error: not a status
  if (detail.status === 'paused') console.log(detail.lastUpdate);
});
document.addEventListener('ticker:update', ({ detail }) => {
  const games: Game[] = 'snapshot' in detail ? detail.games : [detail.game];
  // @ts-expect-error: scores are numbers (or null), not text
  const text: string = games[0].home.score;
  console.log(text, 'changes' in detail && detail.changes.includes('score'));
});
window.addEventListener('ticker:status', ({ detail }) => detail.transport satisfies 'websocket' | 'sse' | 'poll');

export const accepted = (
  <score-ticker src="wss://scores.example.com/ws" topics="league:nba team:nfl:KC" mode="scroll" theme="auto" lang="es-MX"
    href="https://news.example/{id}" announce logos={false} transport="poll" hidden className="scores" aria-label="Marcadores"
    style={{ height: '3em' }}>
    <a href="https://scores.example.com/">Live scores</a>
  </score-ticker>
);

export const rejected = (
  <>
    {/* @ts-expect-error: not a mode */}
    <score-ticker mode="sideways" />
    {/* @ts-expect-error: not a theme */}
    <score-ticker theme="sepia" />
    {/* @ts-expect-error: no such attribute (topics is) */}
    <score-ticker topic="league:nba" />
    {/* @ts-expect-error: topics is text */}
    <score-ticker topics={['league:nba']} />
    {/* @ts-expect-error: not a transport */}
    <score-ticker transport="carrier-pigeon" />
  </>
);
