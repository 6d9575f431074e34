import type { Exchange, ExchangeOpener, ExchangeRequestHead, ExchangeSink, ExchangeTarget } from '@st/broker';
import type { PresenceEntry } from '@st/live-state';
import { silentLogger } from '@st/logging';
import { TunnelError } from '@st/tunnel-protocol';
import { describe, expect, it, vi } from 'vitest';
import { BrokerChannelPool } from './broker-channel-pool';
import { BrokerRouter, DEFAULT_SUSPECT_MS } from './broker-router';

// The router with a scripted presence and scripted brokers: which stream an exchange goes to,
// and exactly when a failed one is tried again elsewhere.

const TUNNEL = 't-1';
const TARGET: ExchangeTarget = { tunnelId: TUNNEL, userId: 'u-1' };

function entry(brokerId: string, over: Partial<PresenceEntry> = {}): PresenceEntry {
  return {
    tunnelId: TUNNEL,
    brokerId,
    advertiseAddress: `${brokerId}:7000`,
    streamId: `s-${brokerId}`,
    agentInstanceId: 'a-1',
    connectionEpoch: 1,
    since: new Date(0),
    draining: false,
    health: { healthy: true, models: ['m'], error: '', checkedAt: new Date(0) },
    ...over,
  };
}

interface Opened {
  address: string;
  target: ExchangeTarget;
  head: ExchangeRequestHead;
  sink: ExchangeSink;
  writes: string[];
  cancelled: string | undefined;
}

/** The brokers' side: every exchange opened, by address; answers are given by the test. */
class FakeBrokers {
  readonly opened: Opened[] = [];
  readonly closed: string[] = [];
  opener(address: string): ExchangeOpener & { close(): void } {
    return {
      open: (target, head, sink): Exchange => {
        const o: Opened = { address, target, head, sink, writes: [], cancelled: undefined };
        this.opened.push(o);
        return {
          write: (chunk, end) => {
            o.writes.push(Buffer.from(chunk).toString() + (end ? '|end' : ''));
            return Promise.resolve();
          },
          release: () => undefined,
          cancel: (reason) => (o.cancelled = reason),
        };
      },
      close: () => this.closed.push(address),
    };
  }
}

interface Sunk extends ExchangeSink {
  heads: number[];
  /** Response body chunks, in order. */
  received: string[];
  errors: TunnelError[];
}

function sink(): Sunk {
  const s: Sunk = {
    heads: [],
    received: [],
    errors: [],
    head: (status, _h, body) => {
      s.heads.push(status);
      if (body.length) s.received.push(Buffer.from(body).toString());
    },
    data: (chunk) => void s.received.push(Buffer.from(chunk).toString()),
    error: (e) => void s.errors.push(e),
  };
  return s;
}

function head(body = '{"model":"m"}', end = true): ExchangeRequestHead {
  return { requestId: 'r-1', method: 'POST', path: '/v1/chat/completions', query: '', headers: [], body: Buffer.from(body), end };
}

function setup(entries: PresenceEntry[], options: { local?: string; replayLimitBytes?: number } = {}) {
  const brokers = new FakeBrokers();
  const presence = { entries, reads: 0, invalidated: 0 };
  const pool = new BrokerChannelPool({ connect: (address) => brokers.opener(address), logger: silentLogger() });
  const localBroker = options.local ? Object.assign(brokers.opener('local'), { brokerId: options.local }) : undefined;
  let clock = 0;
  const router = new BrokerRouter({
    presence: {
      entriesOf: () => {
        presence.reads++;
        return Promise.resolve(presence.entries);
      },
      invalidate: () => void presence.invalidated++,
    },
    channels: pool,
    local: localBroker,
    replayLimitBytes: options.replayLimitBytes ?? 1024,
    logger: silentLogger(),
    now: () => clock,
    random: () => 0,
  });
  return { router, brokers, presence, pool, advance: (ms: number) => (clock += ms) };
}

/** Lets the router's presence read and any retry run. */
const settle = () => new Promise((r) => setImmediate(r));

describe('BrokerRouter: choosing a stream', () => {
  it('answers 503 no_agent at once, asking no broker, when presence has no stream', async () => {
    const { router, brokers } = setup([]);
    const s = sink();
    router.open(TARGET, head(), s);
    await settle();
    expect(brokers.opened).toHaveLength(0);
    expect(s.errors.map((e) => e.kind)).toEqual(['no_agent']);
    expect(s.errors[0].message).toMatch(/tunnel t-1 has no connected agent: start st-agent/);
  });

  it('never routes to a draining stream; only draining ones answer draining', async () => {
    const { router, brokers } = setup([entry('b1', { draining: true }), entry('b2')]);
    router.open(TARGET, head(), sink());
    await settle();
    expect(brokers.opened.map((o) => o.address)).toEqual(['b2:7000']);

    // Only draining streams: the exchange waits (bounded) for a replacement, then says draining.
    const only = setup([entry('b1', { draining: true })]);
    const s = sink();
    only.router.open(TARGET, head(), s);
    await vi.waitFor(() => expect(s.errors.map((e) => e.kind)).toEqual(['draining']), { timeout: 10_000 });
    expect(only.brokers.opened).toHaveLength(0);
  });

  it('waits for the replacement of a draining stream instead of answering 503 in the gap', async () => {
    const { router, brokers, presence } = setup([entry('b1', { draining: true })]);
    const s = sink();
    router.open(TARGET, head(), s);
    await settle();
    expect(brokers.opened).toHaveLength(0);
    // The agent's replacement stream becomes routable (its first health report arrived).
    presence.entries = [entry('b1', { draining: true }), entry('b2')];
    await vi.waitFor(() => expect(brokers.opened.map((o) => o.address)).toEqual(['b2:7000']), { timeout: 10_000 });
    expect(s.errors).toEqual([]);
  });

  it('prefers a healthy stream, then the least loaded, and names the chosen stream to its broker', async () => {
    const { router, brokers } = setup([
      entry('sick', { health: { healthy: false, models: [], error: 'down', checkedAt: new Date(0) } }),
      entry('busy', { load: 5 }),
      entry('idle', { load: 1 }),
    ]);
    router.open(TARGET, head(), sink());
    await settle();
    expect(brokers.opened.map((o) => o.address)).toEqual(['idle:7000']);
    expect(brokers.opened[0].target).toEqual({ ...TARGET, streamId: 's-idle' });
  });

  it("counts this gateway's own open exchanges, so a burst spreads over equal brokers", async () => {
    const { router, brokers } = setup([entry('b1'), entry('b2'), entry('b3')]);
    for (let i = 0; i < 6; i++) router.open(TARGET, head(), sink());
    await settle();
    const per = new Map<string, number>();
    for (const o of brokers.opened) per.set(o.address, (per.get(o.address) ?? 0) + 1);
    expect([...per.values()]).toEqual([2, 2, 2]);
    // Once answered, an exchange no longer counts.
    for (const o of brokers.opened.filter((x) => x.address !== 'b3:7000')) o.sink.head(200, [], Buffer.from('ok'), true);
    router.open(TARGET, head(), sink());
    await settle();
    expect(brokers.opened.at(-1)?.address).not.toBe('b3:7000');
  });

  it("opens a stream of this process's own broker directly, without a channel", async () => {
    const { router, brokers, pool } = setup([entry('here')], { local: 'here' });
    router.open(TARGET, head(), sink());
    await settle();
    expect(brokers.opened.map((o) => o.address)).toEqual(['local']);
    expect(pool.size).toBe(0);
  });
});

describe('BrokerRouter: relaying', () => {
  it('passes the answer through whole, and credit after its end is harmless', async () => {
    const { router, brokers } = setup([entry('b1')]);
    const s = sink();
    const ex = router.open(TARGET, head(), s);
    await settle();
    const o = brokers.opened[0];
    o.sink.head(200, [], Buffer.from('a'), false);
    o.sink.data(Buffer.from('b'), false);
    o.sink.data(Buffer.from('c'), true);
    expect(s.heads).toEqual([200]);
    expect(s.received).toEqual(['a', 'b', 'c']);
    expect(s.errors).toEqual([]);
    ex.release(3);
  });

  it('cancels the open attempt when the caller leaves', async () => {
    const { router, brokers } = setup([entry('b1')]);
    const ex = router.open(TARGET, head(), sink());
    await settle();
    ex.cancel('client went away');
    expect(brokers.opened[0].cancelled).toBe('client went away');
  });
});

describe('BrokerRouter: retry once', () => {
  it('retries a failure before the answer on another broker and re-reads presence', async () => {
    const { router, brokers, presence } = setup([entry('b1'), entry('b2', { load: 3 })]);
    const s = sink();
    router.open(TARGET, head('{"q":1}'), s);
    await settle();
    expect(brokers.opened.map((o) => o.address)).toEqual(['b1:7000']);
    brokers.opened[0].sink.error(new TunnelError('broker_unavailable', 'the gateway cannot reach the broker'));
    await settle();
    expect(presence.invalidated).toBe(1);
    expect(brokers.opened.map((o) => o.address)).toEqual(['b1:7000', 'b2:7000']);
    expect(Buffer.from(brokers.opened[1].head.body).toString()).toBe('{"q":1}');
    brokers.opened[1].sink.head(200, [], Buffer.from('answer'), true);
    expect(s.heads).toEqual([200]);
    expect(s.received).toEqual(['answer']);
    expect(s.errors).toEqual([]);
  });

  for (const kind of ['no_agent', 'draining', 'stream_lost'] as const) {
    it(`retries ${kind} from the broker (the stream presence named is gone, draining or cut)`, async () => {
      const { router, brokers } = setup([entry('b1'), entry('b2')]);
      const s = sink();
      router.open(TARGET, head(), s);
      await settle();
      brokers.opened[0].sink.error(new TunnelError(kind, 'gone'));
      await settle();
      expect(brokers.opened).toHaveLength(2);
      expect(brokers.opened[1].address).not.toBe(brokers.opened[0].address);
      expect(s.errors).toEqual([]);
    });
  }

  it('retries only once: a second failure reaches the caller, naming the unreachable broker', async () => {
    const { router, brokers } = setup([entry('b1'), entry('b2'), entry('b3')]);
    const s = sink();
    router.open(TARGET, head(), s);
    await settle();
    brokers.opened[0].sink.error(new TunnelError('broker_unavailable', 'x'));
    await settle();
    brokers.opened[1].sink.error(new TunnelError('broker_unavailable', 'x'));
    await settle();
    expect(brokers.opened).toHaveLength(2);
    expect(s.errors.map((e) => e.kind)).toEqual(['broker_unavailable']);
    expect(s.errors[0].message).toMatch(/cannot reach broker b2 at b2:7000, which holds the agent stream of tunnel t-1.*retry in a few seconds/);
  });

  it('does not try the same stream again when presence offers no other', async () => {
    const { router, brokers } = setup([entry('b1')]);
    const s = sink();
    router.open(TARGET, head(), s);
    await settle();
    brokers.opened[0].sink.error(new TunnelError('no_agent', 'tunnel t-1 has no connected agent'));
    await settle();
    expect(brokers.opened).toHaveLength(1);
    expect(s.errors.map((e) => e.kind)).toEqual(['no_agent']);
  });

  it('never retries once a response head reached the caller: the break-off is the caller’s error', async () => {
    const { router, brokers } = setup([entry('b1'), entry('b2')]);
    const s = sink();
    router.open(TARGET, head(), s);
    await settle();
    brokers.opened[0].sink.head(200, [{ name: 'content-type', value: 'text/event-stream' }], Buffer.from('data: 1\n\n'), false);
    brokers.opened[0].sink.error(new TunnelError('broker_unavailable', 'the broker went away'));
    await settle();
    expect(brokers.opened).toHaveLength(1);
    expect(s.heads).toEqual([200]);
    expect(s.errors.map((e) => e.kind)).toEqual(['broker_unavailable']);
    expect(s.errors[0].message).toMatch(/broker b1 at b1:7000, which carried this answer, went away in the middle of it.*retry the request/);
  });

  for (const [kind, why] of [
    ['upstream_unreachable', 'the model server is unreachable'],
    ['upstream_reset', 'the model server dropped the connection: a request that crashes it must not reach it twice'],
  ] as const) {
    it(`does not retry a failure of the request itself (${kind}: ${why})`, async () => {
      const { router, brokers } = setup([entry('b1'), entry('b2')]);
      const s = sink();
      router.open(TARGET, head(), s);
      await settle();
      brokers.opened[0].sink.error(new TunnelError(kind, 'connection refused'));
      await settle();
      expect(brokers.opened).toHaveLength(1);
      expect(s.errors.map((e) => e.kind)).toEqual([kind]);
    });
  }

  it('sends a streamed body again, whole and in order, on the retry', async () => {
    const { router, brokers } = setup([entry('b1'), entry('b2')]);
    const s = sink();
    const ex = router.open(TARGET, head('a', false), s);
    await ex.write(Buffer.from('b'), false);
    await ex.write(Buffer.from('c'), false);
    expect(brokers.opened[0].writes).toEqual(['b', 'c']);
    brokers.opened[0].sink.error(new TunnelError('broker_unavailable', 'x'));
    await settle();
    await ex.write(Buffer.from('d'), true);
    await settle();
    expect(Buffer.from(brokers.opened[1].head.body).toString()).toBe('a');
    expect(brokers.opened[1].writes).toEqual(['b', 'c', 'd|end']);
  });

  it('does not retry once more body was sent than it keeps (ST_MAX_BODY)', async () => {
    const { router, brokers } = setup([entry('b1'), entry('b2')], { replayLimitBytes: 4 });
    const s = sink();
    const ex = router.open(TARGET, head('ab', false), s);
    await ex.write(Buffer.from('cde'), false);
    brokers.opened[0].sink.error(new TunnelError('broker_unavailable', 'x'));
    await settle();
    expect(brokers.opened).toHaveLength(1);
    expect(s.errors.map((e) => e.kind)).toEqual(['broker_unavailable']);
  });

  it('opens nothing for an exchange the caller cancelled while presence was read', async () => {
    const { router, brokers } = setup([entry('b1')]);
    const ex = router.open(TARGET, head(), sink());
    ex.cancel('client went away');
    await settle();
    expect(brokers.opened).toHaveLength(0);
  });

  it('tries an unreachable broker last for a while, and dials it afresh', async () => {
    const { router, brokers, advance } = setup([entry('b1'), entry('b2', { load: 2 })]);
    router.open(TARGET, head(), sink());
    await settle();
    brokers.opened[0].sink.error(new TunnelError('broker_unavailable', 'x'));
    await settle();
    expect(brokers.closed).toEqual(['b1:7000']); // its failed channel is not reused
    router.open(TARGET, head(), sink());
    await settle();
    expect(brokers.opened.map((o) => o.address)).toEqual(['b1:7000', 'b2:7000', 'b2:7000']);
    advance(DEFAULT_SUSPECT_MS);
    for (const o of brokers.opened.slice(1)) o.sink.head(200, [], Buffer.from(''), true);
    router.open(TARGET, head(), sink());
    await settle();
    expect(brokers.opened.at(-1)?.address).toBe('b1:7000');
  });
});

describe('BrokerChannelPool', () => {
  it('shares one channel per broker and closes it once unused for its idle time', () => {
    const brokers = new FakeBrokers();
    let clock = 0;
    const pool = new BrokerChannelPool({ connect: (a) => brokers.opener(a), logger: silentLogger(), idleMs: 1_000, now: () => clock });
    const a = pool.acquire('b1:7000');
    const b = pool.acquire('b1:7000');
    expect(a.opener).toBe(b.opener);
    a.release();
    clock += 5_000;
    pool.sweep();
    expect(brokers.closed).toEqual([]); // still in use
    b.release();
    pool.sweep();
    expect(brokers.closed).toEqual([]); // just used
    clock += 1_000;
    pool.sweep();
    expect(brokers.closed).toEqual(['b1:7000']);
    expect(pool.size).toBe(0);
    pool.close();
  });
});
