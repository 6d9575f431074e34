// Child processes and temp dirs of one bench run: started here, always stopped here.
// Every child is tracked by pid; stopAll() ends them gracefully (SIGTERM, then SIGKILL), and
// killAllSync() is the last resort from a process 'exit' handler.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TAIL_BYTES = 4096;

export class ProcessSet {
  /** @type {{ name: string, child: import('node:child_process').ChildProcess, group: boolean, exited: boolean, tail: string, code: number|null, signal: string|null, exitPromise: Promise<void> }[]} */
  entries = [];
  /** @type {string[]} */
  tmpDirs = [];

  /** A fresh temp dir, removed by cleanupTmp(). */
  tmpDir(label) {
    const dir = mkdtempSync(join(tmpdir(), `st-bench-${label}-`));
    this.tmpDirs.push(dir);
    return dir;
  }

  /**
   * Starts a child with piped stdout/stderr. `group: true` puts it in its own process group so
   * that its own children (sshd's per-connection processes) are stopped with it.
   */
  spawn(name, command, args, { env, cwd, group = false } = {}) {
    const child = spawn(command, args, {
      cwd,
      env: env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: group,
    });
    const entry = { name, child, group, exited: false, tail: '', code: null, signal: null, exitPromise: undefined };
    entry.exitPromise = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        entry.exited = true;
        entry.code = code;
        entry.signal = signal;
        resolve();
      });
      child.once('error', (err) => {
        entry.tail += `\n[spawn error] ${err.message}`;
        entry.exited = true;
        resolve();
      });
    });
    const keep = (buf) => {
      entry.tail = (entry.tail + buf.toString('utf8')).slice(-TAIL_BYTES);
    };
    child.stderr.on('data', keep);
    // stdout is kept too (for error messages); readers may add their own 'data' listeners.
    child.stdout.on('data', keep);
    this.entries.push(entry);
    return entry;
  }

  /** Tracks a child started elsewhere (the forked load generator) so it is stopped like the others. */
  adopt(name, child) {
    const entry = { name, child, group: false, exited: false, tail: '', code: null, signal: null, exitPromise: undefined };
    entry.exitPromise = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        entry.exited = true;
        entry.code = code;
        entry.signal = signal;
        resolve();
      });
    });
    this.entries.push(entry);
    return entry;
  }

  /** Resolves with the first stdout line matching `re` (its match), or rejects on exit/timeout. */
  waitForLine(entry, re, timeoutMs) {
    return new Promise((resolve, reject) => {
      let buffered = '';
      const onData = (buf) => {
        buffered += buf.toString('utf8');
        let nl;
        while ((nl = buffered.indexOf('\n')) !== -1) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          const m = re.exec(line);
          if (m) {
            done();
            resolve(m);
            return;
          }
        }
      };
      const onExit = () => {
        done();
        reject(new Error(`${entry.name} exited (code ${entry.code}, signal ${entry.signal}) before printing ${re}:\n${indent(entry.tail)}`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${entry.name} printed no line matching ${re} within ${timeoutMs} ms:\n${indent(entry.tail)}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        entry.child.stdout.off('data', onData);
        entry.child.off('exit', onExit);
      };
      entry.child.stdout.on('data', onData);
      entry.child.once('exit', onExit);
      if (entry.exited) onExit();
    });
  }

  /** Signals one child (its whole group when it has one). */
  signal(entry, sig) {
    if (entry.exited || entry.child.pid === undefined) return;
    try {
      if (entry.group) process.kill(-entry.child.pid, sig);
      else entry.child.kill(sig);
    } catch {
      // already gone
    }
  }

  /** Stops one child: SIGTERM, then SIGKILL after graceMs. */
  async stop(entry, graceMs = 2000) {
    if (entry.exited) return;
    this.signal(entry, 'SIGTERM');
    const timer = setTimeout(() => this.signal(entry, 'SIGKILL'), graceMs);
    await Promise.race([entry.exitPromise, new Promise((r) => setTimeout(r, graceMs + 1000))]);
    clearTimeout(timer);
  }

  /** Stops every child, newest first (agent before server, ssh before sshd, ...). */
  async stopAll(graceMs = 2000) {
    for (const entry of [...this.entries].reverse()) await this.stop(entry, graceMs);
  }

  /** Synchronous last resort, safe in an 'exit' handler. */
  killAllSync() {
    for (const entry of this.entries) this.signal(entry, 'SIGKILL');
  }

  cleanupTmp() {
    for (const dir of this.tmpDirs.splice(0)) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
  }
}

export function indent(text) {
  return text
    .trim()
    .split('\n')
    .slice(-20)
    .map((l) => `    ${l}`)
    .join('\n');
}

/** Peak and current resident set size of a live process, in bytes (from /proc/<pid>/status). */
export function memoryOf(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key) => {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
      return m ? Number(m[1]) * 1024 : undefined;
    };
    return { hwm: kb('VmHWM'), rss: kb('VmRSS') };
  } catch {
    return { hwm: undefined, rss: undefined };
  }
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** utime+stime of one process, in ms (fields 14 and 15 of /proc/<pid>/stat). */
function cpuMsOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

function parentOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return -1;
  }
}

/** CPU time (ms) used so far by the processes `pids` and all their live descendants. */
export function treeCpuMs(pids) {
  const roots = new Set(pids.filter((p) => p !== undefined));
  if (roots.size === 0) return 0;
  const all = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
  const parents = new Map(all.map((p) => [p, parentOf(p)]));
  const inTree = (p) => {
    for (let cur = p, hops = 0; cur > 1 && hops < 64; cur = parents.get(cur) ?? -1, hops++) {
      if (roots.has(cur)) return true;
    }
    return false;
  };
  let ms = 0;
  for (const p of all) if (inTree(p)) ms += cpuMsOf(p);
  return ms;
}

/** Live descendants of `pid` (children, grandchildren, ...). */
export function descendants(pid) {
  const all = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
  const parents = new Map(all.map((p) => [p, parentOf(p)]));
  const out = [];
  const frontier = [pid];
  while (frontier.length > 0) {
    const cur = frontier.pop();
    for (const [p, parent] of parents) {
      if (parent === cur && !out.includes(p)) {
        out.push(p);
        frontier.push(p);
      }
    }
  }
  return out;
}
