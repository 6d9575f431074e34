import { request } from 'node:http';
import type { Exchange, ExchangeOpener, ExchangeSink } from '@st/broker';
import { silentLogger } from '@st/logging';
import type { Tunnel, User } from '@st/store';
import { TunnelError } from '@st/tunnel-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayStore } from './caller-auth';
import { Gateway } from './gateway-server';
import { InMemoryLimitCounters } from './limit-counters';

// The gateway in-process, with a scripted broker: whatever way an exchange ends, its slots in
// the per-user and per-tunnel counts come back exactly once.
const USER: User = { id: 'u-1', name: 'alice', createdAt: '2026-01-01T00:00:00.000Z' };
const TUNNEL = {
  id: 't-1',
  userId: USER.id,
  name: 'gpu',
  remoteHost: 'localhost',
  remotePort: 8000,
  openai: true,
  state: 'started',
  sessionId: null,
  hasUpstreamKey: false,
  createdAt: USER.createdAt,
  updatedAt: USER.createdAt,
} as unknown as Tunnel;

const store: GatewayStore = {
  authenticateApiKey: (key) => Promise.resolve(key === 'good' ? USER : null),
  getTunnelForUser: (userId, id) => Promise.resolve(userId === USER.id && id === TUNNEL.id ? TUNNEL : null),
  getTunnelByName: () => Promise.resolve(null),
  getSession: () => Promise.resolve(null),
  listTunnels: () => Promise.resolve([TUNNEL]),
};

let opens = 0;
/** The broker's part, chosen per request by its path: /v1/done, /v1/error, /v1/hang, /v1/stream. */
const opener: ExchangeOpener = {
  open(_target, head, sink: ExchangeSink): Exchange {
    opens++;
    const how = head.path.split('/')[2];
    if (how === 'done') queueMicrotask(() => sink.head(200, [], Buffer.from('ok'), true));
    if (how === 'error') queueMicrotask(() => sink.error(new TunnelError('no_agent', 'no agent')));
    if (how === 'stream') queueMicrotask(() => sink.head(200, [{ name: 'content-type', value: 'text/event-stream' }], Buffer.from('data: 1\n\n'), false));
    return { write: () => Promise.resolve(), release: () => undefined, cancel: () => undefined };
  },
};

const counters = new InMemoryLimitCounters();
let gateway: Gateway;
let port: number;

beforeAll(async () => {
  gateway = new Gateway({
    store,
    opener,
    runtime: { viewOf: () => Promise.resolve({ connected: true, health: undefined, connections: [] }) },
    logger: silentLogger(),
    maxBodyBytes: 1024 * 1024,
    firstByteTimeoutMs: 200,
    idleTimeoutMs: 60_000,
    // Shorter than the first-byte deadline: a stalled upload to a silent broker is a 408, not a 504.
    bodyDeadline: { idleTimeoutMs: 50, minBytesPerSecond: 0, rateWindowMs: 1000 },
    requestLimits: { tunnelConcurrency: 2, userConcurrency: 0, userRps: 0, userBurst: 0 },
    limitCounters: counters,
  });
  port = await gateway.listen('127.0.0.1', 0);
});

afterAll(() => gateway.close(0));

/** Sends a request; `abortAfterHead` leaves as soon as the answer starts. */
function send(path: string, options: { method?: string; body?: string; stall?: boolean; abortAfterHead?: boolean } = {}): Promise<number> {
  return new Promise((resolve) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path: `/t/${TUNNEL.id}${path}`,
      method: options.method ?? 'GET',
      agent: false,
      headers: { authorization: 'Bearer good', ...(options.stall ? { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' } : {}) },
    });
    req.on('error', () => resolve(0));
    req.on('response', (res) => {
      if (options.abortAfterHead) {
        req.destroy();
        resolve(res.statusCode ?? 0);
        return;
      }
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(res.statusCode ?? 0));
    });
    if (options.stall) {
      req.flushHeaders();
      req.write('x'); // and nothing more: the body deadline ends it
    } else req.end(options.body);
  });
}

async function openSlotsReachZero(): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (counters.openOf('tunnel', TUNNEL.id) !== 0 || counters.openOf('user', USER.id) !== 0) {
    if (performance.now() > deadline) throw new Error(`slots still held: ${counters.openOf('tunnel', TUNNEL.id)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('Gateway request limits', () => {
  it.each([
    ['answered', () => send('/v1/done'), 200],
    ['failed by the broker', () => send('/v1/error'), 503],
    ['timed out before the first byte', () => send('/v1/hang'), 504],
    ['left by the client mid-stream', () => send('/v1/stream', { abortAfterHead: true }), 200],
    ['ended by a stalled body (408)', () => send('/v1/upload', { method: 'POST', stall: true }), 408],
  ])('releases the slots of an exchange %s, once', async (_how, run, status) => {
    // Twice the limit in a row: a slot that leaked, or came back twice, would show.
    for (let i = 0; i < 4; i++) {
      expect(await run()).toBe(status);
      await openSlotsReachZero();
    }
  });

  it('answers 429 over ST_LIMIT_TUNNEL_CONCURRENCY without opening an exchange', async () => {
    const before = opens;
    const held = [send('/v1/hang'), send('/v1/hang')];
    await new Promise<void>((resolve) => {
      const poll = () => (counters.openOf('tunnel', TUNNEL.id) === 2 ? resolve() : setTimeout(poll, 5));
      poll();
    });
    expect(await send('/v1/done')).toBe(429);
    expect(await Promise.all(held)).toEqual([504, 504]);
    await openSlotsReachZero();
    expect(opens - before).toBe(2);
  });
});
