import { readFileSync } from 'node:fs';

/** Open files kept for everything but upstream sockets: broker streams, health probes, logs, libuv. */
export const RESERVED_FILES = 1024;
/** The pool size when the open-file limit is unknown or low (what the agent always used before). */
export const MIN_UPSTREAM_CONNECTIONS = 512;

/**
 * How many keep-alive connections one stream's pool may open to the model server: one per
 * concurrent exchange, as many as the process's open-file limit leaves room for. The gateway's
 * limits (ST_LIMIT_TUNNEL_CONCURRENCY, ST_LIMIT_USER_CONCURRENCY) decide how many exchanges run at
 * once; a smaller pool here would only queue the rest in the agent, each waiting for a whole
 * answer ahead of it (10,000 streamed answers over 512 connections took 20 rounds). Past the
 * limit, exchanges wait for a connection instead of failing with EMFILE. Node raises its soft
 * limit to the hard one at start-up, so this follows `ulimit -Hn` (systemd's LimitNOFILE).
 */
export function upstreamConnectionCap(openFileLimit: number | undefined): number {
  if (openFileLimit === undefined || !Number.isFinite(openFileLimit)) return MIN_UPSTREAM_CONNECTIONS;
  return Math.max(MIN_UPSTREAM_CONNECTIONS, Math.floor(openFileLimit) - RESERVED_FILES);
}

/** The soft limit of open files of this process (Linux /proc), or undefined (other systems, unlimited). */
export function readOpenFileLimit(read: () => string = () => readFileSync('/proc/self/limits', 'utf8')): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(read());
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
