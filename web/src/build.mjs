// Builds web/ticker.js from this folder: one bundle, minified, private names mangled, the
// stylesheet minified into it as a string. `node build.mjs --check` builds in memory and fails
// if the committed web/ticker.js differs (the browser tests run it).
import * as esbuild from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const output = path.join(here, '..', 'ticker.js');
// The browsers web/README.md supports: the output keeps their syntax, no down-levelling.
const target = ['chrome111', 'firefox113', 'safari16.4'];

// Property names used only between this folder's modules, shortened like #private names. Each is
// camelCase, which no name of the protocol is (it is snake_case): a name the server sends or an
// event carries must never be listed, or it would be renamed there too.
const INTERNAL_PROPERTIES = ['reconnectNow', 'refreshTopics', 'onStatus', 'onGames', 'onTopicsChanged', 'lastHeard', 'localeTag',
  'timeOfDay', 'formatNumber', 'ordinalOf', 'runnersOnBase', 'uiText', 'renderedHtml', 'previousGame', 'defineAs', 'gamesById', 'stateHtml'];
for (const name of INTERNAL_PROPERTIES) if (!/[a-z][A-Z]/.test(name)) throw new Error(`${name}: internal property names are camelCase`);

/** `import css from './styles.css'` gives the stylesheet's minified text. */
const minifiedCss = {
  name: 'minified-css',
  setup(build) {
    build.onLoad({ filter: /\.css$/ }, async args => {
      const { code } = await esbuild.transform(await fs.promises.readFile(args.path, 'utf8'), { loader: 'css', minify: true, target });
      // esbuild keeps the spaces inside custom property values and var() fallbacks; they are not needed.
      return { contents: code.trim().replace(/([:,])\s+/g, '$1'), loader: 'text' };
    });
  },
};

const result = await esbuild.build({
  entryPoints: [path.join(here, 'ticker.js')],
  bundle: true,
  format: 'iife',
  minify: true,
  target,
  legalComments: 'none',
  banner: { js: '/*! <score-ticker> (scoreticker), MIT: web/README.md */' },
  mangleProps: new RegExp(`^(${INTERNAL_PROPERTIES.join('|')})$`),
  plugins: [minifiedCss],
  write: false,
  logLevel: 'warning',
});
const built = result.outputFiles[0].contents;

if (process.argv.includes('--check')) {
  const committed = fs.existsSync(output) ? fs.readFileSync(output) : Buffer.alloc(0);
  if (!committed.equals(Buffer.from(built))) {
    console.error('web/ticker.js is not the build of web/src: run `npm run build` in web/src and commit the result');
    process.exit(1);
  }
  console.log('web/ticker.js is the build of web/src');
} else {
  fs.writeFileSync(output, built);
  console.log(`web/ticker.js: ${built.length} bytes`);
}
