import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect as tcpConnect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Dispatcher } from 'undici';
import { UpstreamPool } from './upstream-pool';

const servers: Server[] = [];
const pools: UpstreamPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.destroy()));
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

/** A server that holds every answer until `release()`; counts the connections it accepted. */
async function holdingServer() {
  const held: ServerResponse[] = [];
  const seen: string[] = [];
  let connections = 0;
  let onRequest: () => void = () => undefined;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.push(req.url ?? '');
    held.push(res);
    onRequest();
  });
  server.on('connection', () => connections++);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    seen,
    get connections() {
      return connections;
    },
    /** Resolves once `n` requests have arrived in all. */
    requests(n: number) {
      return new Promise<void>((resolve) => {
        const check = () => {
          if (seen.length >= n) resolve();
        };
        onRequest = check;
        check();
      });
    },
    release() {
      for (const res of held.splice(0)) res.end('ok');
    },
  };
}

function get(pool: UpstreamPool, path: string): Promise<string> {
  return pool.request({ path, method: 'GET' }).then((r) => r.body.text());
}

describe('UpstreamPool', () => {
  it('gives each concurrent request a connection of its own up to the cap, then queues the rest in order', async () => {
    const server = await holdingServer();
    const pool = new UpstreamPool(server.origin, { connections: 3 });
    pools.push(pool);
    const answers = Promise.all(['/1', '/2', '/3', '/4', '/5'].map((p) => get(pool, p)));
    await server.requests(3);
    expect(server.seen).toHaveLength(3);
    expect(pool.stats.queued).toBe(2);
    server.release();
    await server.requests(5);
    expect(server.seen.slice(3)).toEqual(['/4', '/5']);
    server.release();
    expect(await answers).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    // The queued requests reused the first connections (keep-alive), none was opened for them.
    expect(server.connections).toBe(3);
  });

  it('opens at most maxConnecting connections at once; the others wait for those to connect', async () => {
    const server = await holdingServer();
    const dials: (() => void)[] = [];
    const port = Number(new URL(server.origin).port);
    const pool = new UpstreamPool(server.origin, {
      connections: 10,
      maxConnecting: 2,
      client: {
        // A connector whose dials complete only when the test says so.
        connect: (_opts, callback) => {
          dials.push(() => {
            const socket: Socket = tcpConnect(port, '127.0.0.1', () => callback(null, socket));
          });
          return undefined as never;
        },
      },
    });
    pools.push(pool);
    const answers = Promise.all(['/a', '/b', '/c', '/d'].map((p) => get(pool, p)));
    await new Promise((r) => setImmediate(r));
    expect(dials).toHaveLength(2);
    expect(pool.stats).toMatchObject({ opening: 2, queued: 2 });
    dials.splice(0).forEach((dial) => dial());
    await server.requests(2);
    await new Promise((r) => setImmediate(r));
    expect(dials).toHaveLength(2);
    dials.splice(0).forEach((dial) => dial());
    await server.requests(4);
    server.release();
    expect(await answers).toEqual(['ok', 'ok', 'ok', 'ok']);
  });

  it('fails the requests still waiting when destroyed, and any request after', async () => {
    const server = await holdingServer();
    const pool = new UpstreamPool(server.origin, { connections: 1 });
    const outcome = (p: Promise<string>) => p.then(() => 'answered', (err: Error) => err.message);
    const first = outcome(get(pool, '/first'));
    const waiting = outcome(get(pool, '/waiting'));
    await server.requests(1);
    await pool.destroy();
    expect(await first).not.toBe('answered');
    expect(await waiting).toMatch(/destroyed/i);
    expect(await outcome(get(pool, '/late'))).toMatch(/destroyed/i);
  });

  it('drops a connection whose connect failed and serves the next request on a new one', async () => {
    const server = await holdingServer();
    const port = Number(new URL(server.origin).port);
    let dials = 0;
    const pool = new UpstreamPool(server.origin, {
      connections: 1,
      client: {
        connect: (_opts, callback) => {
          dials++;
          if (dials === 1) queueMicrotask(() => callback(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), null));
          else {
            const socket: Socket = tcpConnect(port, '127.0.0.1', () => callback(null, socket));
          }
          return undefined as never;
        },
      },
    });
    pools.push(pool);
    await expect(get(pool, '/refused')).rejects.toThrow(/ECONNREFUSED/);
    const second = get(pool, '/second');
    await server.requests(1);
    server.release();
    expect(await second).toBe('ok');
    expect(pool.stats.connections).toBe(1);
  });

  it('never dispatches a cancelled waiter nor opens a connection for it', async () => {
    const server = await holdingServer();
    const dials: (() => void)[] = [];
    const port = Number(new URL(server.origin).port);
    const pool = new UpstreamPool(server.origin, {
      connections: 1,
      client: {
        connect: (_opts, callback) => {
          dials.push(() => {
            const socket: Socket = tcpConnect(port, '127.0.0.1', () => callback(null, socket));
          });
          return undefined as never;
        },
      },
    });
    pools.push(pool);
    const started: string[] = [];
    const handler = { onRequestStart: () => started.push('/cancelled'), onResponseError: () => undefined } as Dispatcher.DispatchHandler;
    const first = get(pool, '/first');
    const ticket = pool.submit({ path: '/cancelled', method: 'GET' }, handler);
    ticket.cancel();
    expect(pool.stats.queued).toBe(0);
    await new Promise((r) => setImmediate(r));
    dials.splice(0).forEach((dial) => dial());
    await server.requests(1);
    server.release();
    expect(await first).toBe('ok');
    const after = get(pool, '/after');
    await server.requests(2);
    server.release();
    expect(await after).toBe('ok');
    expect(server.seen).toEqual(['/first', '/after']);
    expect(started).toEqual([]);
    expect(dials).toHaveLength(0);
    expect(server.connections).toBe(1);
  });

  it('closes the connect of a request cancelled while connecting, freeing its slot for the next', async () => {
    const server = await holdingServer();
    const dials: (() => void)[] = [];
    const port = Number(new URL(server.origin).port);
    const pool = new UpstreamPool(server.origin, {
      connections: 10,
      maxConnecting: 1,
      client: {
        connect: (_opts, callback) => {
          dials.push(() => {
            const socket: Socket = tcpConnect(port, '127.0.0.1', () => callback(null, socket));
          });
          return undefined as never;
        },
      },
    });
    pools.push(pool);
    const handler = { onRequestStart: () => undefined, onResponseError: () => undefined } as Dispatcher.DispatchHandler;
    const ticket = pool.submit({ path: '/cancelled', method: 'GET' }, handler);
    const next = get(pool, '/next');
    await new Promise((r) => setImmediate(r));
    expect(pool.stats).toMatchObject({ opening: 1, queued: 1 });
    ticket.cancel();
    await new Promise((r) => setImmediate(r));
    expect(pool.stats).toMatchObject({ connections: 1, opening: 1, queued: 0 });
    expect(dials).toHaveLength(2);
    dials[1]();
    await server.requests(1);
    server.release();
    expect(await next).toBe('ok');
    expect(server.seen).toEqual(['/next']);
  });
});
