// The load generator (loadgen.mjs) as a child process of its own, driven over IPC: the bench
// process only orchestrates and measures, so its own work never competes with the load.
import { fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Forks loadgen.mjs, adopted by `procs`; returns its entry and `rpc(cmd, args, timeoutMs)`. */
export function startLoadgen(procs) {
  const child = fork(join(BENCH_DIR, 'loadgen.mjs'), [], {
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: [],
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS')),
  });
  const entry = procs.adopt('loadgen', child);
  const pending = new Map();
  let nextId = 1;
  child.on('message', (msg) => {
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.ok) p.resolve(msg.result);
    else p.reject(new Error(`load generator: ${msg.error}`));
  });
  child.on('exit', (code, signal) => {
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error(`the load generator exited (code ${code}, signal ${signal})`));
    }
    pending.clear();
  });
  const rpc = (cmd, args = {}, timeoutMs = 120_000) =>
    new Promise((resolvePromise, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`load generator: ${cmd} took longer than ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, { resolve: resolvePromise, reject, timer });
      child.send({ id, cmd, ...args });
    });
  return { entry, rpc };
}
