#!/usr/bin/env node
// Makes a checkout ready to run: installs dependencies when node_modules is missing or older than
// package-lock.json (`npm ci`), then builds every app through Nx (which runs proto:generate first
// and answers from its cache when nothing changed). Runs before `npm test`, `npm run bench` and
// `npm start`, so each of them works as the first command after a fresh `git clone`.
//
// Plain Node, no dependencies: it runs before there is a node_modules. Everything it prints goes
// to stderr, so the stdout of the command it precedes stays clean.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

/** A step that failed; the message says which and what to do. */
export class NotReadyError extends Error {
  name = 'NotReadyError';
}

const say = (line) => process.stderr.write(`ensure-ready: ${line}\n`);
const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

/** Why `npm ci` is needed, or undefined when node_modules matches package-lock.json. */
export function installReason(root = ROOT) {
  const lock = join(root, 'package-lock.json');
  // npm writes node_modules/.package-lock.json at the end of every install, after the lock file.
  const installed = join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(join(root, 'node_modules'))) return 'node_modules is missing';
  if (!existsSync(installed)) return 'node_modules looks incomplete (no node_modules/.package-lock.json)';
  if (statSync(lock).mtimeMs > statSync(installed).mtimeMs) return 'package-lock.json is newer than node_modules';
  return undefined;
}

function run(command, args, { root, capture }) {
  const result = spawnSync(command, args, {
    cwd: root,
    env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' },
    // Without capture the child's output goes straight to our stderr (npm ci shows progress).
    stdio: capture ? ['ignore', 'pipe', 'pipe'] : ['ignore', 2, 2],
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) throw new NotReadyError(`cannot run ${command}: ${result.error.message}`);
  return result;
}

/** How often a long step says it is still running. */
const PROGRESS_EVERY_MS = 15_000;

/**
 * Prints "still <doing>… N s" to stderr every PROGRESS_EVERY_MS while a blocking step runs: a
 * process of its own, since spawnSync holds our event loop. It exits by itself if we die.
 */
function startProgress(doing) {
  const code = `const t0 = Date.now(), parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
  process.stderr.write('ensure-ready: still ' + ${JSON.stringify(doing)} + '\\u2026 ' + Math.round((Date.now() - t0) / 1000) + ' s\\n');
}, ${PROGRESS_EVERY_MS});`;
  const ticker = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'ignore', 2] });
  ticker.unref();
  return () => {
    if (ticker.exitCode === null) ticker.kill();
  };
}

function runWithProgress(doing, command, args, options) {
  const stop = startProgress(doing);
  try {
    return run(command, args, options);
  } finally {
    stop();
  }
}

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/**
 * Runs `fn` holding a lock per checkout, so that two `npm start`s run right after a clone do not
 * both run `npm ci` into the same node_modules. A lock whose holder has died is taken over.
 */
function withInstallLock(root, fn) {
  const dir = join(tmpdir(), `st-ensure-ready-${createHash('sha256').update(root).digest('hex').slice(0, 16)}.lock`);
  const pidFile = join(dir, 'pid');
  let announced = false;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(pidFile, String(process.pid));
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    let holder = 0;
    let ageMs = 0;
    try {
      ageMs = Date.now() - statSync(dir).mtimeMs;
      holder = Number(readFileSync(pidFile, 'utf8')) || 0;
    } catch {
      // released meanwhile, or its holder has not written its pid yet
    }
    if (holder && alive(holder)) {
      if (!announced) say(`waiting for another install in this checkout (pid ${holder})`);
      announced = true;
      sleep(500);
    } else {
      // A dead holder's lock, or one left without a pid for seconds: take it over.
      if (holder || ageMs > 5_000) rmSync(dir, { recursive: true, force: true });
      sleep(100);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function checkNode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 19)) {
    throw new NotReadyError(`Node ${process.versions.node} is too old: Session Tunnels needs Node 20.19 or newer`);
  }
}

function install(root) {
  // Another process may have installed while we waited for the lock.
  const reason = installReason(root);
  if (!reason) return;
  say(`${reason}: installing dependencies (npm ci, first run only, ~2-3 min: better-sqlite3 is compiled)\u2026`);
  const started = Date.now();
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = runWithProgress('installing dependencies', npm, ['ci', '--no-audit', '--no-fund'], { root, capture: false });
  if (result.status !== 0) {
    throw new NotReadyError(
      `npm ci failed (exit ${result.status ?? result.signal}); see its output above. If it says package.json and ` +
        'package-lock.json are out of sync, run `npm install` and commit package-lock.json.',
    );
  }
  say(`dependencies installed (${seconds(started)})`);
}

/**
 * Installs (when needed) and builds. Throws {@link NotReadyError} when a step fails; the failing
 * step's output has been printed to stderr by then.
 */
export function ensureReady({ root = ROOT } = {}) {
  checkNode();
  if (installReason(root)) withInstallLock(root, () => install(root));
  const started = Date.now();
  const nx = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'nx.cmd' : 'nx');
  if (!existsSync(nx)) throw new NotReadyError('node_modules/.bin/nx is missing: remove node_modules and run `npm ci`');
  say('building (proto codegen + bundles; seconds when nothing changed)\u2026');
  const build = runWithProgress('building', nx, ['run-many', '-t', 'build', '--outputStyle=static'], { root, capture: true });
  if (build.status !== 0) {
    const output = `${build.stdout}${build.stderr}`.trimEnd().split('\n').slice(-80).join('\n');
    process.stderr.write(`${output}\n`);
    throw new NotReadyError(`the build failed (npx nx run-many -t build, exit ${build.status ?? build.signal}); see the output above`);
  }
  const cached = /from the cache instead of running the command for (\d+) out of (\d+) tasks/.exec(build.stdout);
  say(cached && cached[1] === cached[2] ? `build up to date (${seconds(started)})` : `built (${seconds(started)})`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    ensureReady();
  } catch (err) {
    if (!(err instanceof NotReadyError)) throw err;
    say(`FAILED: ${err.message}`);
    process.exit(1);
  }
}
