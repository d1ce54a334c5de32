// The API of <score-ticker> read two ways, for tests that compare them: what the built widget
// (web/ticker.js) handles and dispatches, and what the npm package declares
// (deploy/npm/score-ticker.d.ts); and what a widget on a page shows, read through its documented
// parts, for the tests of the places it is embedded (tests/npm, tests/wordpress).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const read = file => fs.readFileSync(path.join(ROOT, file), 'utf8');

/** Attributes every HTML element has, which the widget's CSS also honours. */
const GLOBAL_ATTRIBUTES = new Set(['hidden']);

/** The text between the brace at `open` and its match. */
function braced(text, open) {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return text.slice(open + 1, i);
  }
  throw new Error(`no closing brace after offset ${open}`);
}

/** The keys of an object literal's text (`a:1,b:f(x,y),c`), at its top level only. */
function literalKeys(body) {
  const keys = [];
  let depth = 0, start = 0;
  for (let i = 0; i <= body.length; i++) {
    const c = body[i];
    if (c === '{' || c === '(' || c === '[') depth++;
    else if (c === '}' || c === ')' || c === ']') depth--;
    else if ((c === ',' || i === body.length) && depth === 0) {
      const entry = body.slice(start, i).trim();
      if (entry) keys.push(entry.match(/^["']?([\w$]+)/)[1]);
      start = i + 1;
    }
  }
  return keys.sort();
}

/** What web/ticker.js handles: `observed` (observedAttributes), `styled` (attributes its stylesheet
 *  selects on the host, but for every element's own), `events`: each `ticker:*` name it
 *  dispatches, with the key lists of the `detail` objects it dispatches it with, and
 *  `fallbackFile`, the name of the second file it loads. */
export function handledByWidget(ticker = read('web/ticker.js')) {
  const observed = ticker.match(/observedAttributes\s*=\s*\[([^\]]*)\]/);
  if (!observed) throw new Error('web/ticker.js: no observedAttributes list');
  const styled = [...new Set([...ticker.matchAll(/:host\(\[([\w-]+)/g)].map(m => m[1]))].filter(a => !GLOBAL_ATTRIBUTES.has(a));
  const events = new Map();
  for (const m of ticker.matchAll(/["'`](ticker:[\w-]+)["'`]\s*,\s*\{/g)) {
    const keys = literalKeys(braced(ticker, m.index + m[0].length - 1)).join(',');
    events.set(m[1], [...new Set([...(events.get(m[1]) || []), keys])].sort());
  }
  const named = new Set([...ticker.matchAll(/["'`](ticker:[\w-]+)["'`]/g)].map(m => m[1]));
  for (const name of named) if (!events.has(name)) throw new Error(`web/ticker.js names ${name} but dispatches it with no detail literal to read`);
  const fallbackFile = ticker.match(/"(ticker-fallback\.[0-9a-f]{16}\.js)"/)?.[1];
  return { observed: JSON.parse(`[${observed[1]}]`).sort(), styled: styled.sort(), events, fallbackFile };
}

/** The interfaces and type aliases of a declaration file: interface name → member names, alias
 *  name → the names of its union's members. Enough for the package's own, plainly written file. */
export function declarations(dts = read('deploy/npm/score-ticker.d.ts')) {
  const interfaces = new Map(), aliases = new Map();
  for (const m of dts.matchAll(/^\s*(?:export )?interface (\w+)[^{]*\{/gm)) {
    const body = braced(dts, m.index + m[0].length - 1);
    // Members at the top level of the body: `name?: …;` or `'quoted': …;`, comments left out.
    const flat = body.replace(/\/\*[^]*?\*\//g, '').replace(/\/\/.*$/gm, '');
    const members = [];
    let depth = 0;
    for (const line of flat.split('\n')) {
      const member = depth === 0 && line.match(/^\s*['"]?([\w:$-]+)['"]?\??\s*[:(<]/);
      if (member) members.push(member[1]);
      depth += (line.match(/[{(]/g) || []).length - (line.match(/[})]/g) || []).length;
    }
    interfaces.set(m[1], members.sort());
  }
  for (const m of dts.matchAll(/^export type (\w+) =([^;]*);/gm)) aliases.set(m[1], m[2].split('|').map(s => s.trim()).filter(Boolean));
  return { interfaces, aliases };
}

/** The package's declared API: `attributes`, `events` (name → the member lists of its detail's
 *  variants, like handledByWidget's), `elementMembers` (what ScoreTickerElement adds to HTMLElement). */
export function declaredApi(dts = read('deploy/npm/score-ticker.d.ts')) {
  const { interfaces, aliases } = declarations(dts);
  const need = name => {
    if (!interfaces.has(name)) throw new Error(`score-ticker.d.ts: no interface ${name}`);
    return interfaces.get(name);
  };
  const events = new Map();
  const eventMap = dts.match(/interface ScoreTickerEventMap \{([^}]*)\}/)[1];
  for (const [, name, detail] of eventMap.matchAll(/'(ticker:[\w-]+)':\s*CustomEvent<(\w+)>/g)) {
    events.set(name, (aliases.get(detail) || [detail]).map(variant => need(variant).join(',')).sort());
  }
  return { attributes: need('ScoreTickerAttributes'), events, elementMembers: need('ScoreTickerElement') };
}

/** Waits until the widget `selector` on `page` shows `score` for the home side `abbr` (read through
 *  the documented parts: game, home, score). */
export function waitForHomeScore(page, selector, abbr, score, timeout = 15e3) {
  return page.waitForFunction(([selector, abbr, score]) => {
    for (const game of document.querySelector(selector)?.shadowRoot?.querySelectorAll('[part~=game]') ?? []) {
      const home = game.querySelector('[part~=home]');
      if (home?.textContent.includes(abbr)) return home.querySelector('[part~=score]').textContent === String(score);
    }
    return false;
  }, [selector, abbr, score], { timeout });
}
