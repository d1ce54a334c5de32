// The npm package's declarations against the widget they describe: the attributes, events and
// event details in deploy/npm/score-ticker.d.ts must be exactly those web/ticker.js handles and
// dispatches, so a change to the widget that the types miss fails here. (The browser test in
// react-app.test.mjs checks the same against the registered element at run time.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handledByWidget, declaredApi, declarations, read } from './widget-api.mjs';

const widget = handledByWidget();
const declared = declaredApi();

test('the declared attributes are the ones the widget observes or styles', () => {
  const handled = [...new Set([...widget.observed, ...widget.styled])].sort();
  assert.deepEqual(declared.attributes, handled,
    'ScoreTickerAttributes (deploy/npm/score-ticker.d.ts) must list what web/ticker.js handles: observedAttributes and :host([…]) selectors');
});

test('the declared events, and the fields of their details, are the ones the widget dispatches', () => {
  assert.deepEqual([...declared.events.keys()].sort(), [...widget.events.keys()].sort(), 'ScoreTickerEventMap against the ticker:* events dispatched');
  for (const [name, details] of widget.events) {
    assert.deepEqual(declared.events.get(name), details, `${name}: the declared detail variants (fields) against those dispatched`);
  }
});

test('the element declares no properties of its own, and the widget defines the tag the types map', () => {
  // Everything the element keeps is #private (web/README.md): attributes, parts and events are its API.
  assert.deepEqual(declared.elementMembers, []);
  assert.ok(declarations().interfaces.get('HTMLElementTagNameMap').includes('score-ticker'));
  assert.match(read('web/ticker.js'), /["'`]score-ticker["'`]/);
});

test('the reader is not blind: a widget with another attribute or event detail would not match', () => {
  const changed = handledByWidget(read('web/ticker.js')
    .replace(/observedAttributes\s*=\s*\[/, '$&"paused",')
    .replace(/("ticker:status",\{)/, '$1paused:1,'));
  assert.ok(changed.observed.includes('paused'));
  assert.notDeepEqual(changed.events.get('ticker:status'), declared.events.get('ticker:status'));
});

test('the package is versioned with the server it comes with, under the project licence', () => {
  const pkg = JSON.parse(read('deploy/npm/package.json'));
  const cargo = read('Cargo.toml').match(/^\[package\][^[]*?^version\s*=\s*"([^"]+)"/m)[1];
  assert.equal(pkg.version, cargo, 'deploy/npm/package.json version = Cargo.toml version');
  assert.equal(pkg.license, read('Cargo.toml').match(/^license\s*=\s*"([^"]+)"/m)[1]);
  assert.ok(!pkg.private, 'publishable');
  for (const entry of ['.', './react']) {
    assert.equal(pkg.exports[entry].browser, pkg.exports[entry].default, `${entry}: one module in every browser`);
    assert.equal(Object.keys(pkg.exports[entry])[0], 'types', `${entry}: "types" first, as TypeScript requires`);
  }
});
