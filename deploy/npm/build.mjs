// Builds the npm package's runtime files from the widget's committed build (web/ticker.js and
// web/ticker-fallback.js), so there is never a second copy of the widget to keep in step. npm runs
// it before packing (`prepack`); `node build.mjs` runs it by hand.
//
// web/ticker.js is a classic script (an IIFE) that finds its fallback file next to the URL it was
// loaded from (`document.currentScript`). Inside a bundle there is no such script, so the module
// this writes names the fallback file with `new URL('./ticker-fallback.<hash>.js', import.meta.url)`,
// the pattern bundlers recognise (Vite, webpack 5, Parcel): they copy the file into the site's build
// and put its final URL there. `?no-inline` keeps Vite from inlining it as a `data:` URL (it is
// under Vite's 4 KB inlining limit), which a strict Content-Security-Policy would refuse; servers
// and other bundlers ignore the query. The widget still pins the file with its SHA-384.
//
// Writes, beside this file: dist/score-ticker.js (the ES module: importing it registers
// <score-ticker>), dist/ticker-fallback.<hash>.js, and LICENSE (the project's).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const web = path.join(root, 'web');
const dist = path.join(here, 'dist');

/** The widget's text with its fallback file's name (a string literal the build bakes in, once)
 *  replaced by `expression`; throws when the literal is not there exactly once. */
export function rewriteFallbackName(ticker, expression) {
  const names = [...ticker.matchAll(/"(ticker-fallback\.[0-9a-f]{16}\.js)"/g)];
  if (names.length !== 1) {
    throw new Error(`web/ticker.js names its fallback file ${names.length} times (expected once, as "ticker-fallback.<16 hex>.js"): ` +
      'deploy/npm/build.mjs needs that literal to point the module at the copy bundlers emit');
  }
  const [{ 0: literal, 1: name, index }] = names;
  return { name, code: ticker.slice(0, index) + expression + ticker.slice(index + literal.length) };
}

export function build() {
  const ticker = fs.readFileSync(path.join(web, 'ticker.js'), 'utf8');
  const fallback = fs.readFileSync(path.join(web, 'ticker-fallback.js'));
  const { name, code } = rewriteFallbackName(ticker, 'scoreTickerFallbackUrl');
  const digest = crypto.createHash('sha384').update(fallback).digest('hex').slice(0, 16);
  if (name !== `ticker-fallback.${digest}.js`) {
    throw new Error(`web/ticker.js pins ${name}, but web/ticker-fallback.js is ticker-fallback.${digest}.js: rebuild web/src (npm run build there)`);
  }
  // The licence banner stays first.
  const [, banner = '', body] = code.match(/^(\/\*![^\n]*\*\/\n)?([^]*)$/);
  const module = banner +
    '// <score-ticker> as an ES module, built by deploy/npm/build.mjs from web/ticker.js: importing it\n' +
    '// registers the element (once, whatever other copies of the widget the page loads).\n' +
    `const scoreTickerFallbackUrl = new URL('./${name}?no-inline', import.meta.url).href;\n` +
    body.trimEnd() + '\nexport {};\n';
  fs.rmSync(dist, { recursive: true, force: true });
  fs.mkdirSync(dist);
  fs.writeFileSync(path.join(dist, 'score-ticker.js'), module);
  fs.writeFileSync(path.join(dist, name), fallback);
  fs.copyFileSync(path.join(root, 'LICENSE'), path.join(here, 'LICENSE'));
  return { module: 'dist/score-ticker.js', fallback: `dist/${name}` };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { module, fallback } = build();
  console.log(`deploy/npm: ${module}, ${fallback}, LICENSE`);
}
