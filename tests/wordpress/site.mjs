// A real WordPress site for the plugin's tests, made from Debian's packages: a private MariaDB
// server (its own data folder and socket, no network), Debian's WordPress copied into a folder of
// its own (WordPress finds its wp-config.php next to its real files, so it cannot be shared) with
// the plugin unzipped into it from target/scoreticker-wordpress.zip, installed by WordPress's own
// wp_install() (install.php), and served by PHP's built-in server on 127.0.0.1.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, sleep } from '../browser/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '../..');
export const PLUGIN_ZIP = path.join(ROOT, 'target/scoreticker-wordpress.zip');
const WORDPRESS = '/usr/share/wordpress';

/** Starts `command` with its output in `log`; `stop()` ends it (SIGTERM, then SIGKILL after 5 s). */
function daemon(command, args, log, env = {}) {
  const out = fs.openSync(log, 'a');
  const proc = spawn(command, args, { stdio: ['ignore', out, out], env: { ...process.env, ...env } });
  const exited = new Promise(r => proc.once('exit', r));
  return {
    proc,
    stop: async () => {
      if (proc.exitCode != null || proc.signalCode != null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

async function until(what, check, ms = 30e3) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms / 1000} s`);
    await sleep(100);
  }
}

/** A MariaDB server of its own in `dir`, with a database and user for WordPress. */
export async function startDatabase(dir) {
  const data = path.join(dir, 'mysql'), socket = path.join(dir, 'mysql.sock');
  execFileSync('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--user=root', '--skip-test-db', '--auth-root-authentication-method=socket'],
    { stdio: 'pipe' });
  const server = daemon('mariadbd', ['--no-defaults', `--datadir=${data}`, `--socket=${socket}`, '--skip-networking', '--user=root',
    `--pid-file=${path.join(dir, 'mysql.pid')}`, '--innodb-buffer-pool-size=32M'], path.join(dir, 'mysql.log'));
  const sql = statement => execFileSync('mariadb', ['--no-defaults', `--socket=${socket}`, '-u', 'root', '-e', statement], { stdio: 'pipe' });
  await until('MariaDB answering', () => { try { sql('SELECT 1'); return true; } catch { return server.proc.exitCode != null ? Promise.reject(new Error(`mariadbd exited: see ${dir}/mysql.log`)) : false; } });
  sql("CREATE DATABASE wordpress; CREATE USER 'wordpress'@'localhost' IDENTIFIED BY 'wordpress'; GRANT ALL ON wordpress.* TO 'wordpress'@'localhost';");
  return { socket, stop: server.stop };
}

function wpConfig({ socket, url, dir }) {
  const define = (name, value) => `define(${JSON.stringify(name)}, ${typeof value === 'string' ? JSON.stringify(value) : value});\n`;
  const salts = ['AUTH_KEY', 'SECURE_AUTH_KEY', 'LOGGED_IN_KEY', 'NONCE_KEY', 'AUTH_SALT', 'SECURE_AUTH_SALT', 'LOGGED_IN_SALT', 'NONCE_SALT'];
  return '<?php\n' + define('DB_NAME', 'wordpress') + define('DB_USER', 'wordpress') + define('DB_PASSWORD', 'wordpress') +
    define('DB_HOST', `localhost:${socket}`) + define('DB_CHARSET', 'utf8mb4') + define('DB_COLLATE', '') +
    salts.map(name => define(name, crypto.randomBytes(32).toString('hex'))).join('') +
    define('WP_HOME', url) + define('WP_SITEURL', url) +
    // Notices go to a log the tests read; nothing is fetched from outside (no updates, no cron).
    define('WP_DEBUG', true) + define('WP_DEBUG_DISPLAY', false) + define('WP_DEBUG_LOG', path.join(dir, 'debug.log')) +
    define('WP_HTTP_BLOCK_EXTERNAL', true) + define('AUTOMATIC_UPDATER_DISABLED', true) + define('DISABLE_WP_CRON', true) +
    define('FS_METHOD', 'direct') +
    "$table_prefix = 'wp_';\nif (!defined('ABSPATH')) define('ABSPATH', __DIR__ . '/');\nrequire_once ABSPATH . 'wp-settings.php';\n";
}

/**
 * A WordPress site in `dir/site` on a free port, installed, with the plugin unzipped (not yet
 * activated: the tests do that as an administrator would). `posts`: [{ title, content }] to publish.
 * Returns { url, admin: { user, password }, posts: [{ title, id, url }], debugLog, stop }.
 */
export async function startWordPress({ dir, database, posts }) {
  const site = path.join(dir, 'site');
  fs.cpSync(WORDPRESS, site, { recursive: true, dereference: true });
  fs.rmSync(path.join(site, 'wp-config.php'));
  execFileSync('python3', ['-m', 'zipfile', '-e', PLUGIN_ZIP, path.join(site, 'wp-content/plugins')]);
  const port = await freePort(), url = `http://127.0.0.1:${port}`;
  fs.writeFileSync(path.join(site, 'wp-config.php'), wpConfig({ socket: database.socket, url, dir }));
  const admin = { user: 'editor', password: crypto.randomBytes(12).toString('hex') };
  const installed = JSON.parse(execFileSync('php', [path.join(here, 'install.php'), site, JSON.stringify({ admin, posts })], { encoding: 'utf8' }));
  // Several workers: the block editor asks for many things at once.
  const server = daemon('php', ['-S', `127.0.0.1:${port}`, '-t', site], path.join(dir, 'php-server.log'), { PHP_CLI_SERVER_WORKERS: '4' });
  await until('WordPress answering', async () => {
    try { return (await fetch(url + '/wp-login.php')).ok; } catch { return false; }
  });
  return { url, admin, posts: installed.posts, debugLog: path.join(dir, 'debug.log'), stop: server.stop };
}
