import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { type ConnectionUser, UpstreamConnections } from './upstream-connections';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

/** A model server stand-in that counts connections and answers /hold/* only when told to. */
async function server(): Promise<{ origin: string; sockets: () => number; held: (() => void)[] }> {
  let sockets = 0;
  const held: (() => void)[] = [];
  const s: Server = createServer((req, res) => {
    if (req.url?.startsWith('/hold')) held.push(() => res.end(req.url));
    else res.end(req.url);
  });
  s.on('connection', () => sockets++);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise((resolve) => s.close(() => resolve())));
  return { origin: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, sockets: () => sockets, held };
}

/** Acquires a connection, sends GET `path` on it, gives the connection back when answered. */
function get(connections: UpstreamConnections, path: string, order?: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const user: ConnectionUser = {
      useConnection(client: Client) {
        order?.push(path);
        client
          .request({ path, method: 'GET' })
          .then((r) => r.body.text())
          .then((text) => {
            connections.release(client);
            resolve(text);
          }, reject);
      },
    };
    connections.acquire(user);
  });
}

function connectionsTo(origin: string, max: number): UpstreamConnections {
  const c = new UpstreamConnections(origin, { pipelining: 1, keepAliveTimeout: 30_000 }, max);
  cleanup.push(() => c.destroy());
  return c;
}

describe('UpstreamConnections', () => {
  it('sends one request after another over the same kept-alive connection', async () => {
    const s = await server();
    const connections = connectionsTo(s.origin, 8);
    for (let i = 0; i < 5; i++) expect(await get(connections, `/v1/models?i=${i}`)).toBe(`/v1/models?i=${i}`);
    expect(connections.size).toBe(1);
    expect(s.sockets()).toBe(1);
  });

  it('opens up to its maximum of connections, then serves waiting requests first come, first served', async () => {
    const s = await server();
    const connections = connectionsTo(s.origin, 2);
    const order: string[] = [];
    const answers = [get(connections, '/hold/1', order), get(connections, '/hold/2', order), get(connections, '/3', order), get(connections, '/4', order)];
    expect(connections.size).toBe(2);
    expect(connections.queued).toBe(2);
    // Wait until both held requests have reached the server, then let the first one finish.
    while (s.held.length < 2) await new Promise((resolve) => setImmediate(resolve));
    s.held[0]();
    expect(await answers[2]).toBe('/3');
    expect(await answers[3]).toBe('/4');
    s.held[1]();
    expect(await Promise.all(answers)).toEqual(['/hold/1', '/hold/2', '/3', '/4']);
    expect(order).toEqual(['/hold/1', '/hold/2', '/3', '/4']);
    expect(s.sockets()).toBe(2);
  });

  it('passes a connection on when the one waiting for it no longer needs it', async () => {
    const s = await server();
    const connections = connectionsTo(s.origin, 1);
    const first = get(connections, '/hold/1');
    // A waiter that was cancelled meanwhile gives the connection straight back.
    connections.acquire({ useConnection: (client) => connections.release(client) });
    const third = get(connections, '/3');
    while (s.held.length < 1) await new Promise((resolve) => setImmediate(resolve));
    s.held[0]();
    expect(await first).toBe('/hold/1');
    expect(await third).toBe('/3');
    expect(connections.queued).toBe(0);
  });
});
