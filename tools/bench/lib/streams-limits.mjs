// What the 10k-streams phase (lib/streams-10k.mjs) checks around its runs: the limits it raises on
// st-server, each process's open-file limit, how many sockets a process still holds (the mock
// keeps the agent's idle upstream connections for its 5 s keep-alive after the tunnel run), and
// the machine's listen-queue drops (a SYN dropped waits ~1 s for its retry: TTFT p99 shows it).
import { readFileSync, readdirSync } from 'node:fs';

/**
 * The hardening limits 10,000 callers of one user and one tunnel would hit, raised above what the
 * phase uses (not switched off: each check still runs): open HTTP connections, concurrent
 * requests per tunnel and per user, the user's request rate (bucket) and requests per connection.
 */
export function serverLimits(count) {
  const room = String(2 * count + 100);
  return {
    ST_MAX_CONNECTIONS: room,
    ST_LIMIT_TUNNEL_CONCURRENCY: room,
    ST_LIMIT_USER_CONCURRENCY: room,
    ST_LIMIT_USER_RPS: String(count),
    ST_LIMIT_USER_BURST: room,
    ST_MAX_REQUESTS_PER_CONNECTION: '0',
  };
}

/** The soft limit of open files of a live process (from /proc/<pid>/limits). */
export function openFileLimit(pid) {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** How many file descriptors a live process holds (undefined when it is gone). */
export function openFds(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

/**
 * Waits until `pid` holds at most `max` descriptors (or `timeoutMs` passed): the next run's 10,000
 * sockets must not meet the last run's idle ones under one open-file limit. Returns the ms waited
 * and the count at the end.
 */
export async function waitForFewFds(pid, max, timeoutMs) {
  const started = Date.now();
  let n = openFds(pid);
  while (n !== undefined && n > max && Date.now() - started < timeoutMs) {
    await new Promise((r) => setTimeout(r, 100));
    n = openFds(pid);
  }
  return { waitedMs: Date.now() - started, fds: n };
}

/** The machine's TcpExt ListenDrops so far (it counts ListenOverflows too; undefined without /proc/net/netstat). */
export function listenDrops() {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    const i = lines.findIndex((l) => l.startsWith('TcpExt:'));
    const names = lines[i].split(/\s+/);
    const values = lines[i + 1].split(/\s+/).map(Number);
    const at = names.indexOf('ListenDrops');
    return at > 0 ? values[at] : undefined;
  } catch {
    return undefined;
  }
}
