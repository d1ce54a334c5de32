// Builds the widget's two files from this folder (web/README.md, "Two files"), each one bundle,
// minified, private names mangled:
// - web/ticker-fallback.js (fallback.js): the SSE and poll transports, built first;
// - web/ticker.js (ticker.js): everything else, the stylesheet minified into it as a string, and
//   the fallback's content-addressed name and SHA-384 baked in, so it loads exactly that file.
// `node build.mjs --check` builds in memory and fails if a committed file differs (the browser
// tests run it).
import * as esbuild from 'esbuild';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// The browsers web/README.md supports: the output keeps their syntax, no down-levelling.
const target = ['chrome111', 'firefox113', 'safari16.4'];

// Property names used only between this folder's modules, shortened like #private names. Each is
// camelCase, which no name of the protocol is (it is snake_case): a name the server sends or an
// event carries must never be listed, or it would be renamed there too.
const INTERNAL_PROPERTIES = ['reconnectNow', 'refreshTopics', 'onStatus', 'onGames', 'onTopicsChanged', 'lastHeard', 'localeTag',
  'timeOfDay', 'formatNumber', 'ordinalOf', 'runnersOnBase', 'uiText', 'renderedHtml', 'previousGame', 'defineAs', 'gamesById', 'stateHtml',
  // The keys of the strings (format.js) that are only ever read by name, never looked up by a state.
  'regionName', 'pauseLabel', 'prevLabel', 'nextLabel', 'updatedLabel', 'overtimeLabel', 'noGamesText', 'winnerLabel', 'possessionLabel', 'rankLabel', 'pensLabel', 'outsLabel', 'baseNames', 'runnersLabel', 'basesEmpty',
  // What a Connection (connection.js) leaves public for the fallback transports (fallback.js).
  'wsUrl', 'eventStream', 'activePoll', 'isGreeted',
  'serverEpoch', 'resumeEpoch', 'resumeSeq', 'receiveFrame', 'retryLater', 'setStatus', 'setTrouble', 'onSnapshot', 'onEvents', 'advanceTo',
  'fallbackLoaded', 'topicSet', 'linkStatus'];
for (const name of INTERNAL_PROPERTIES) if (!/[a-z][A-Z]/.test(name)) throw new Error(`${name}: internal property names are camelCase`);

/** `import css from './styles.css'` gives the stylesheet's minified text. */
const minifiedCss = {
  name: 'minified-css',
  setup(build) {
    build.onLoad({ filter: /\.css$/ }, async args => {
      const { code } = await esbuild.transform(await fs.promises.readFile(args.path, 'utf8'), { loader: 'css', minify: true, target });
      // esbuild keeps the spaces inside custom property values and var() fallbacks, and around the
      // slash of grid-row/grid-column; they are not needed.
      return { contents: code.trim().replace(/([:,])\s+/g, '$1').replace(/ \/ /g, '/'), loader: 'text' };
    });
  },
};

/** One minified bundle of `entry`. The two files share `mangleCache`, so that a property both use
 *  (a Connection's, see INTERNAL_PROPERTIES) gets the same short name in each. */
async function bundle(entry, mangleCache, define = {}) {
  const result = await esbuild.build({
    entryPoints: [path.join(here, entry)],
    bundle: true,
    format: 'iife',
    minify: true,
    target,
    legalComments: 'none',
    banner: { js: '/*! <score-ticker>, MIT: web/README.md */' },
    mangleProps: new RegExp(`^(${INTERNAL_PROPERTIES.join('|')})$`),
    mangleCache,
    define,
    plugins: [minifiedCss],
    write: false,
    logLevel: 'warning',
  });
  return { code: Buffer.from(result.outputFiles[0].contents), mangleCache: result.mangleCache };
}

// The main file's names first (the file under the tighter budget), then the fallback's with them.
const { mangleCache } = await bundle('ticker.js', {}, { FALLBACK_FILE: '""', FALLBACK_INTEGRITY: '""' });
const fallback = await bundle('fallback.js', mangleCache);
// The name the server serves it under for good (src/server/assets.rs, immutable_path): the first
// 16 hex digits of its SHA-384.
const digest = crypto.createHash('sha384').update(fallback.code);
const fallbackFile = `ticker-fallback.${digest.copy().digest('hex').slice(0, 16)}.js`;
const main = await bundle('ticker.js', fallback.mangleCache, {
  FALLBACK_FILE: JSON.stringify(fallbackFile),
  FALLBACK_INTEGRITY: JSON.stringify(`sha384-${digest.digest('base64')}`),
});
const outputs = [['ticker-fallback.js', fallback.code], ['ticker.js', main.code]];

if (process.argv.includes('--check')) {
  for (const [name, built] of outputs) {
    const file = path.join(here, '..', name);
    const committed = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
    if (!committed.equals(built)) {
      console.error(`web/${name} is not the build of web/src: run \`npm run build\` in web/src and commit the result`);
      process.exit(1);
    }
  }
  console.log('web/ticker.js and web/ticker-fallback.js are the build of web/src');
} else {
  for (const [name, built] of outputs) {
    fs.writeFileSync(path.join(here, '..', name), built);
    console.log(`web/${name}: ${built.length} bytes`);
  }
}
