// <score-ticker> in React 19's JSX: `import 'scoreticker-widget/react'` registers the element (as
// the package's main entry does) and lets `<score-ticker topics="league:nba" />` type-check.
// React 19 passes these as attributes (`announce={true}` sets it, `false` removes it). Listen to the
// `ticker:*` events with addEventListener (a ref, or on `document`): they are typed everywhere.
import type { DetailedHTMLProps, HTMLAttributes } from 'react';
import type { ScoreTickerAttributes, ScoreTickerElement } from './score-ticker.js';

export * from './score-ticker.js';

/** The props of `<score-ticker>` in JSX: its attributes beside every HTML element's. */
export type ScoreTickerProps = DetailedHTMLProps<HTMLAttributes<ScoreTickerElement>, ScoreTickerElement> & ScoreTickerAttributes;

declare module 'react' {
  namespace JSX {
    interface IntrinsicElements {
      'score-ticker': ScoreTickerProps;
    }
  }
}
