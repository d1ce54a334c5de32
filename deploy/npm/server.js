// The package's entry on a server (the `node` condition: server-side rendering in Next.js, Nuxt,
// SvelteKit, Astro…). There is no DOM to register an element in, so importing the widget there does
// nothing; the page's own bundle (the `browser`/`default` entry) registers it in the browser, and
// the <score-ticker> the server rendered upgrades then.
export {};
