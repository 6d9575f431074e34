import { type Server, createServer } from 'node:http';
import { type Socket, connect } from 'node:net';
import type { Logger } from '@st/logging';
import { warningRecorder } from '@st/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type HttpServerLimits, applyHttpServerLimits, httpServerOptions } from './http-server-limits';

const LIMITS: HttpServerLimits = { headerTimeoutMs: 10_000, maxConnections: 0, keepAliveTimeoutMs: 5_000, maxRequestsPerConnection: 1000 };
const servers: Server[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function serve(limits: HttpServerLimits, logger: Logger): Promise<number> {
  const server = createServer(httpServerOptions(limits), (_req, res) => res.end('ok'));
  applyHttpServerLimits(server, limits, logger);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

/** A raw connection, with what it received and whether it has closed. */
function open(port: number): { socket: Socket; received: () => string; closed: Promise<void>; connected: Promise<void> } {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  socket.on('error', () => undefined);
  return {
    socket,
    received: () => text,
    connected: new Promise((r) => socket.once('connect', () => r())),
    closed: new Promise((r) => socket.once('close', () => r())),
  };
}

describe('HTTP server limits', () => {
  it('closes connections over ST_MAX_CONNECTIONS at once, serves the ones within, and warns once for a burst', async () => {
    const { logger, warnings } = warningRecorder();
    const port = await serve({ ...LIMITS, maxConnections: 2 }, logger);
    const held = [open(port), open(port)];
    await Promise.all(held.map((c) => c.connected));
    // Node counts a connection once it has accepted it: wait until both are.
    const server = servers[0];
    await waitFor(async () => (await new Promise<number>((r) => server.getConnections((_e, n) => r(n)))) === 2);
    const extra = [open(port), open(port), open(port)];
    await Promise.all(extra.map((c) => c.closed));
    expect(extra.map((c) => c.received())).toEqual(['', '', '']);
    held[0].socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    await waitFor(async () => held[0].received().endsWith('ok'));
    expect(held[0].received()).toMatch(/^HTTP\/1.1 200/);
    expect(warnings).toHaveLength(1);
    expect(warnings[0].msg).toMatch(/refused 1 new HTTP connection\(s\): 2 are open \(ST_MAX_CONNECTIONS\)/);
  });

  it('closes a connection whose headers do not arrive within the header timeout', async () => {
    const { logger } = warningRecorder();
    const port = await serve({ ...LIMITS, headerTimeoutMs: 300 }, logger);
    const slow = open(port);
    await slow.connected;
    slow.socket.write('POST / HTTP/1.1\r\nhost: x\r\n');
    const trickle = setInterval(() => slow.socket.writable && slow.socket.write('x-a: b\r\n'), 50);
    const started = performance.now();
    await slow.closed;
    clearInterval(trickle);
    // 300 ms plus Node's check interval (75 ms here); the bound is many times that for a busy machine.
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(slow.received()).toMatch(/^HTTP\/1.1 408/);
  });

  it('applies the keep-alive limits to the server', async () => {
    const server = createServer(httpServerOptions({ ...LIMITS, keepAliveTimeoutMs: 1234, maxRequestsPerConnection: 7 }));
    applyHttpServerLimits(server, { ...LIMITS, keepAliveTimeoutMs: 1234, maxRequestsPerConnection: 7 }, warningRecorder().logger);
    expect(server.keepAliveTimeout).toBe(1234);
    expect(server.maxRequestsPerSocket).toBe(7);
    expect(server.headersTimeout).toBe(10_000);
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
