import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import type { PresenceEntry, PresencePatch } from '@st/live-state';
import { waitUntil } from '@st/testing';
import type { TunnelError } from '@st/tunnel-protocol';
import type { BrokerOptions } from './broker';
import type { StreamDirectory } from './stream-directory';
import { type BrokerHarness, FakeAgent, TUNNEL, startBroker } from './testing/broker-harness';

/** Presence kept in memory: what gateways elsewhere would read. */
class MemoryDirectory implements StreamDirectory {
  readonly entries = new Map<string, PresenceEntry>();
  liveBrokerCount = 1;
  cleared: string[] = [];
  put(e: PresenceEntry) {
    this.entries.set(e.streamId, { ...e });
    return Promise.resolve();
  }
  update(_b: string, _t: string, streamId: string, patch: PresencePatch) {
    const e = this.entries.get(streamId);
    if (e) this.entries.set(streamId, { ...e, ...patch });
    return Promise.resolve(e !== undefined);
  }
  remove(_b: string, _t: string, streamId: string) {
    this.entries.delete(streamId);
    return Promise.resolve();
  }
  clearBroker(brokerId: string) {
    this.cleared.push(brokerId);
    const n = this.entries.size;
    this.entries.clear();
    return Promise.resolve(n);
  }
  announceBroker() {
    return Promise.resolve(this.liveBrokerCount);
  }
  withdrawBroker() {
    return Promise.resolve();
  }
}

let harness: BrokerHarness | undefined;
afterEach(() => harness?.close());

async function broker(options: Partial<BrokerOptions> = {}) {
  harness = await startBroker(options);
  return harness;
}

function openExchange(h: BrokerHarness) {
  const errors: TunnelError[] = [];
  h.broker.open(
    { tunnelId: TUNNEL.id, userId: TUNNEL.userId },
    { requestId: 'r1', method: 'POST', path: '/v1/chat/completions', query: '', headers: [], body: new Uint8Array(0), end: true },
    { head: () => undefined, data: () => undefined, error: (e) => errors.push(e) },
  );
  return errors;
}

describe('Broker: a replaced stream of the same agent', () => {
  it('closes a half-open older stream (no answer to a ping) as soon as the agent registers a newer epoch, failing its exchanges', async () => {
    const h = await broker();
    const old = new FakeAgent(h.client, 'agent-1', 1);
    await waitUntil('the first stream to be routable', () => h.broker.isConnected(TUNNEL.id));
    const lost = openExchange(h);
    await waitUntil('the Open to reach the agent', () => old.frames.some((f) => f.frame?.$case === 'open'));

    old.deaf = true; // the agent gave up on this connection and redialled
    const started = performance.now();
    const replacement = new FakeAgent(h.client, 'agent-1', 2);
    const status = await old.status;
    expect(status.code).toBe(grpc.status.ABORTED);
    expect(status.details).toMatch(/replaced by a newer stream of the same st-agent \(instance agent-1, epoch 1 replaced by 2\), and it did not answer a ping within 2000 ms/);
    // Far sooner than the keepalive timeout (2.5 ping intervals of 15 s).
    expect(performance.now() - started).toBeLessThan(20_000);
    await waitUntil('the exchange on the old stream to fail', () => lost.length > 0);
    expect(lost[0].kind).toBe('stream_lost');
    expect(lost[0].message).toMatch(/replaced the stream that carried this request/);

    await waitUntil('the replacement to be the tunnel’s only stream', async () => {
      const view = await h.broker.viewOf(TUNNEL.id);
      return view.connected && view.connections.length === 1;
    });
    expect((await replacement.welcome()).tunnelId).toBe(TUNNEL.id);
  });

  it('lets a live older stream finish its answers (nothing new goes to it) until the agent closes it', async () => {
    const directory = new MemoryDirectory();
    const h = await broker({ presence: directory });
    await h.broker.advertise({ brokerId: 'b1', advertiseAddress: '127.0.0.1:1' });
    const old = new FakeAgent(h.client, 'agent-1', 1);
    await waitUntil('the first stream in presence', () => directory.entries.size === 1);
    const kept = openExchange(h);
    await waitUntil('the Open to reach the old stream', () => old.frames.some((f) => f.frame?.$case === 'open'));

    const replacement = new FakeAgent(h.client, 'agent-1', 2);
    await waitUntil('the old stream draining in presence, the new one not', () => {
      const entries = [...directory.entries.values()];
      return entries.length === 2 && entries.filter((e) => e.draining).map((e) => e.connectionEpoch).join() === '1';
    });
    openExchange(h);
    await waitUntil('a new exchange to go to the replacement', () => replacement.frames.some((f) => f.frame?.$case === 'open'));
    expect(old.frames.filter((f) => f.frame?.$case === 'open').length).toBe(1);
    expect(kept).toEqual([]); // the old stream answered the probe: its exchange is still open

    old.halfClose(); // what st-agent does once the old stream's answers are done
    await waitUntil('only the replacement in presence', () => directory.entries.size === 1);
    expect([...directory.entries.values()][0].connectionEpoch).toBe(2);
  });

  it('closes an older stream that carries nothing at once', async () => {
    const h = await broker();
    const old = new FakeAgent(h.client, 'agent-1', 1);
    await waitUntil('the first stream to be routable', () => h.broker.isConnected(TUNNEL.id));
    new FakeAgent(h.client, 'agent-1', 2);
    const status = await old.status;
    expect(status.code).toBe(grpc.status.ABORTED);
    expect(status.details).toMatch(/this stream was replaced by a newer stream of the same st-agent \(instance agent-1, epoch 1 replaced by 2\); it is closed/);
  });

  it('closes a late stream of an older epoch, not the newer one it would replace', async () => {
    const h = await broker();
    const newer = new FakeAgent(h.client, 'agent-1', 5);
    await waitUntil('the newer stream to be routable', () => h.broker.isConnected(TUNNEL.id));
    const late = new FakeAgent(h.client, 'agent-1', 4);
    expect((await late.status).code).toBe(grpc.status.ABORTED);
    const view = await h.broker.viewOf(TUNNEL.id);
    expect(view.connections.length).toBe(1);
    expect(newer.frames.some((f) => f.frame?.$case === 'welcome')).toBe(true);
  });

  it('keeps streams of other agent instances, and of agents that send no instance id', async () => {
    const h = await broker();
    new FakeAgent(h.client, 'agent-1', 1);
    new FakeAgent(h.client, 'agent-2', 2);
    new FakeAgent(h.client, '', 0);
    new FakeAgent(h.client, '', 0);
    await waitUntil('four streams', async () => (await h.broker.viewOf(TUNNEL.id)).connections.length === 4);
  });
});

describe('Broker: shutdown', () => {
  it('drains, marks the streams draining in presence, and returns as soon as the agents closed them', async () => {
    const directory = new MemoryDirectory();
    const h = await broker({ presence: directory });
    await h.broker.advertise({ brokerId: 'b1', advertiseAddress: '127.0.0.1:1' });
    const agents = [new FakeAgent(h.client, 'agent-1', 1), new FakeAgent(h.client, 'agent-2', 1)];
    await waitUntil('both streams in presence', () => directory.entries.size === 2);

    const graceMs = 60_000;
    const started = performance.now();
    const stopped = h.broker.shutdown(graceMs);
    await waitUntil('both agents to be told to drain', () => agents.every((a) => a.drained));
    await waitUntil('presence to say draining', () => [...directory.entries.values()].every((e) => e.draining));
    // Nothing new goes to a draining stream.
    const refused = openExchange(h);
    await waitUntil('the exchange to be refused', () => refused.length > 0);
    expect(refused[0].kind).toBe('draining');

    agents[0].halfClose();
    await waitUntil('the first stream out of presence', () => directory.entries.size === 1);
    agents[1].halfClose();
    await stopped;
    // Well inside the grace: it returned because the streams were closed, not because time ran out.
    expect(performance.now() - started).toBeLessThan(graceMs / 2);
    expect(directory.entries.size).toBe(0);
    expect(directory.cleared).toEqual(['b1', 'b1']); // at start (the previous run) and at the end
  });

  it('closes the streams the agents did not close once the grace passes', async () => {
    const h = await broker();
    const agent = new FakeAgent(h.client, 'agent-1', 1);
    await waitUntil('the stream to be routable', () => h.broker.isConnected(TUNNEL.id));
    await h.broker.shutdown(200);
    const status = await agent.status;
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect(status.details).toMatch(/broker shutting down/);
  });
});

describe('Broker: revalidate', () => {
  it('admits every stream again and closes those refused now (revocations missed while the feed was down)', async () => {
    let refuse = false;
    const h = await broker({
      authenticator: {
        admitAgent: () => Promise.resolve(refuse ? { refused: 'tunnel_stopped', tunnelId: TUNNEL.id } : { tunnel: TUNNEL }),
      },
    });
    const agent = new FakeAgent(h.client, 'agent-1', 1);
    await waitUntil('the stream to be routable', () => h.broker.isConnected(TUNNEL.id));
    expect(await h.broker.revalidate()).toBe(0);
    refuse = true;
    expect(await h.broker.revalidate()).toBe(1);
    const status = await agent.status;
    expect(status.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(status.details).toMatch(/tunnel tun_h is stopped: start the tunnel/);
  });
});

describe('Broker: live brokers', () => {
  it('tells agents in Welcome how many brokers are live (1 without presence)', async () => {
    const alone = await broker();
    expect((await new FakeAgent(alone.client, 'a', 1).welcome()).liveBrokers).toBe(1);
    alone.close();
    const directory = new MemoryDirectory();
    directory.liveBrokerCount = 3;
    const h = await broker({ presence: directory });
    await h.broker.advertise({ brokerId: 'b1', advertiseAddress: '127.0.0.1:1' });
    expect((await new FakeAgent(h.client, 'a', 1).welcome()).liveBrokers).toBe(3);
  });
});

describe('Broker: admission', () => {
  it('looks the token up once when nothing was revoked meanwhile, and again before routing when a revocation came while the agent registered', async () => {
    let calls = 0;
    let refuse = false;
    let onAdmit: (() => void) | undefined;
    const h = await broker({
      authenticator: {
        admitAgent: () => {
          calls++;
          const answer = refuse ? { refused: 'tunnel_stopped' as const, tunnelId: TUNNEL.id } : { tunnel: TUNNEL };
          onAdmit?.();
          return Promise.resolve(answer);
        },
      },
    });
    const first = new FakeAgent(h.client, 'agent-1', 1);
    await first.welcome();
    await waitUntil('the stream to be routable', () => h.broker.isConnected(TUNNEL.id));
    expect(calls).toBe(1);
    h.broker.disconnectTunnel(TUNNEL.id, 'tunnel dropped for the test');
    await waitUntil('the stream to be dropped', () => !h.broker.isConnected(TUNNEL.id));

    // The next agent's first lookup admits it; then the tunnel is stopped (a revocation) before
    // its stream is listed: the second lookup, before routing, refuses it.
    calls = 0;
    onAdmit = () => {
      onAdmit = undefined;
      refuse = true;
      h.broker.disconnectTunnel('tun_other', 'another revocation while this agent registered');
    };
    const late = new FakeAgent(h.client, 'agent-2', 1);
    const status = await late.status;
    expect(status.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(calls).toBe(2);
    expect(h.broker.isConnected(TUNNEL.id)).toBe(false);
  });
});
