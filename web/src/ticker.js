// The widget's licence banner is added by build.mjs.
// The entry point of web/ticker.js (built by build.mjs). Loading the script twice (/ticker.js and
// /ticker.v1.js on one page) is harmless: the first copy wins.
import { ScoreTicker } from './element.js';

const TAG = 'score-ticker';
if (window.customElements && !customElements.get(TAG)) ScoreTicker.defineAs(TAG);
