// One child process of `npm start` (mock, st-server, st-agent): its output to a log file, watched
// line by line, and the failure report that quotes the end of that log.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { ROOT } from './ensure-ready.mjs';

/** How long a child may take to print the line that says it is up. */
export const STARTUP_TIMEOUT_MS = 30_000;

/** A failure the demo explains in words (no stack trace). */
export class DemoError extends Error {
  name = 'DemoError';
}

/** A path as the user typed it: relative to the working directory when inside it. */
export function shown(path) {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/** One child process whose output goes to a log file, watched line by line. */
export class Child {
  constructor(name, script, env, logFile) {
    this.name = name;
    this.logFile = logFile;
    this.tail = [];
    this.watchers = new Set();
    this.exitInfo = undefined;
    this.log = createWriteStream(logFile, { flags: 'w' });
    // Its own process group: Ctrl-C reaches only us, and each child gets exactly one SIGTERM.
    this.proc = spawn(process.execPath, [join(ROOT, script)], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.exited = new Promise((resolveExit) => {
      this.proc.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolveExit(this.exitInfo);
      });
      this.proc.once('error', (err) => {
        this.onLine(`${name}: cannot start: ${err.message}`);
        this.exitInfo = { code: null, signal: null, error: err };
        resolveExit(this.exitInfo);
      });
    });
    for (const stream of [this.proc.stdout, this.proc.stderr]) {
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => this.onLine(line));
    }
  }

  onLine(line) {
    this.log.write(`${line}\n`);
    this.tail.push(line);
    if (this.tail.length > 30) this.tail.shift();
    for (const watcher of this.watchers) watcher(line);
  }

  get running() {
    return this.exitInfo === undefined;
  }

  /** Resolves with the first line `test` maps to a value; rejects on exit or timeout. */
  waitFor(test, what, timeoutMs = STARTUP_TIMEOUT_MS) {
    return new Promise((resolveWait, reject) => {
      const done = (fn, value) => {
        clearTimeout(timer);
        this.watchers.delete(watcher);
        fn(value);
      };
      const watcher = (line) => {
        const value = test(line);
        if (value !== undefined) done(resolveWait, value);
      };
      const timer = setTimeout(
        () => done(reject, new DemoError(`${this.name} did not report ${what} within ${timeoutMs / 1000} s`)),
        timeoutMs,
      );
      this.watchers.add(watcher);
      this.exited.then(() => done(reject, new DemoError(`${this.name} exited before reporting ${what}`)));
    });
  }

  describeExit() {
    const { code, signal, error } = this.exitInfo ?? {};
    if (error) return error.message;
    return signal ? `killed by ${signal}` : `exit code ${code}`;
  }

  /** The end of its log, for a failure report. */
  report() {
    const lines = this.tail.length ? this.tail.map((l) => `  | ${l}`).join('\n') : '  | (no output)';
    let hint = '';
    if (this.tail.some((l) => l.includes('EADDRINUSE'))) {
      hint = '\nA port is already in use: stop whatever holds it, or choose others with ST_HTTP_PORT / ST_GRPC_PORT.';
    }
    return `last lines of ${shown(this.logFile)}:\n${lines}${hint}`;
  }

  closeLog() {
    return new Promise((resolveClose) => this.log.end(resolveClose));
  }
}
