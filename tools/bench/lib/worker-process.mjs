// The bench's worker processes (the load generator, the attacker, the idle agents), each a child
// of its own driven over IPC: the bench process only orchestrates and measures, so its own work
// never competes with the load. A request is `{ id, cmd, ...args }`, an answer `{ id, ok, result | error }`.
import { fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Forks `tools/bench/<script>`, adopted by `procs` as `name`. Returns its entry and
 * `rpc(cmd, args, timeoutMs)`; a timeout of 0 waits as long as the worker takes. Every pending
 * call fails when the worker exits.
 */
export function forkWorker(procs, { name, script, label = name, execArgv = [], defaultTimeoutMs = 0 }) {
  const child = fork(join(BENCH_DIR, script), [], {
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv,
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS')),
  });
  const entry = procs.adopt(name, child);
  const pending = new Map();
  let nextId = 1;
  child.on('message', (msg) => {
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.ok) p.resolve(msg.result);
    else p.reject(new Error(`${label}: ${msg.error}`));
  });
  child.on('exit', (code, signal) => {
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error(`the ${label} process exited (code ${code}, signal ${signal})`));
    }
    pending.clear();
  });
  const rpc = (cmd, args = {}, timeoutMs = defaultTimeoutMs) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              pending.delete(id);
              reject(new Error(`${label}: ${cmd} took longer than ${timeoutMs} ms`));
            }, timeoutMs)
          : undefined;
      pending.set(id, { resolve, reject, timer });
      child.send({ id, cmd, ...args });
    });
  return { entry, rpc };
}

/** The load generator (loadgen.mjs); calls time out after 120 s unless told otherwise. */
export function startLoadgen(procs) {
  return forkWorker(procs, { name: 'loadgen', script: 'loadgen.mjs', label: 'load generator', defaultTimeoutMs: 120_000 });
}
