// What a publisher's React page does with the package: one import, then <score-ticker> in JSX,
// with a ref for its events. The server's address comes from the page's query string (?server=
// ws://host/ws), so one build runs against any test server.
import 'scoreticker-widget/react';
import { useEffect, useRef, useState } from 'react';
import type { ScoreTickerElement, TickerUpdateDetail } from 'scoreticker-widget/react';

const server = new URLSearchParams(location.search).get('server') ?? 'wss://scores.example.com/ws';

export function App() {
  const ticker = useRef<ScoreTickerElement>(null);
  const [mode, setMode] = useState<'list' | 'strip'>('list');
  const [updates, setUpdates] = useState(0);
  const [lastScore, setLastScore] = useState('');
  const [status, setStatus] = useState('');

  useEffect(() => {
    const element = ticker.current!;
    const onUpdate = ({ detail }: CustomEvent<TickerUpdateDetail>) => {
      setUpdates(n => n + 1);
      if ('game' in detail && detail.changes.includes('score')) {
        const { away, home } = detail.game;
        setLastScore(`${away.abbr} ${away.score} - ${home.abbr} ${home.score}`);
      }
    };
    element.addEventListener('ticker:update', onUpdate);
    return () => element.removeEventListener('ticker:update', onUpdate);
  }, []);

  useEffect(() => {
    const onStatus = (event: DocumentEventMap['ticker:status']) => {
      if ((event.target as Element).id === 'live') setStatus(event.detail.status);
    };
    document.addEventListener('ticker:status', onStatus);
    return () => document.removeEventListener('ticker:status', onStatus);
  }, []);

  return (
    <main>
      <h1>Tonight's games</h1>
      <score-ticker ref={ticker} id="live" src={server} topics="league:nba" mode={mode} theme="dark" lang="en" announce
        href="https://news.example/scores/{league}/{id}">
        <a href="https://scores.example.com/">Live scores</a>
      </score-ticker>
      <p>
        Updates <output id="updates">{updates}</output>, last score <output id="score">{lastScore}</output>,
        status <output id="status">{status}</output>.
      </p>
      <button id="switch" onClick={() => setMode(m => (m === 'list' ? 'strip' : 'list'))}>Switch the layout</button>
      {/* Polling only: the widget loads its fallback file, which the site's build emitted beside its own. */}
      <score-ticker id="polled" src={server} topics="all" mode="strip" transport="poll" />
    </main>
  );
}
