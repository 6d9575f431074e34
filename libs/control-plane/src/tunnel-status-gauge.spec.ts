import { describe, expect, it } from 'vitest';
import type { Broker } from '@st/broker';
import { MetricsRegistry } from '@st/metrics';
import type { TunnelCounts } from '@st/store';
import { parsePrometheusText } from '@st/testing';
import { TUNNEL_COUNTS_MAX_AGE_MS, observeTunnelStatus } from './tunnel-status-gauge';

function fakeStore(counts: TunnelCounts) {
  const store = { queries: 0, fail: false, countTunnels: () => {
    store.queries++;
    return store.fail ? Promise.reject(new Error('database unreachable')) : Promise.resolve(counts);
  } };
  return store;
}

const broker = (streams: { tunnel: string; available: boolean }[]) =>
  ({ registry: { all: () => streams.map((s) => ({ tunnel: { id: s.tunnel }, available: s.available })) } }) as unknown as Broker;

describe('st_tunnels', () => {
  it('says running, waiting and stopped with the broker in this process, querying the store at most every 15 s', async () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const store = fakeStore({ started: 3, stopped: 2 });
    let now = 0;
    // t-1 has two streams, t-2 only a draining one.
    observeTunnelStatus(registry, store, broker([{ tunnel: 't-1', available: true }, { tunnel: 't-1', available: true }, { tunnel: 't-2', available: false }]), () => now);
    const scrape = async () => parsePrometheusText(await registry.metrics());
    const m = await scrape();
    expect(m.value('st_tunnels', { status: 'running' })).toBe(1);
    expect(m.value('st_tunnels', { status: 'waiting' })).toBe(2);
    expect(m.value('st_tunnels', { status: 'stopped' })).toBe(2);
    now += TUNNEL_COUNTS_MAX_AGE_MS - 1;
    await scrape();
    expect(store.queries).toBe(1);
    now += 1;
    await scrape();
    expect(store.queries).toBe(2);
  });

  it('says started and stopped when the live state is in Redis, and asks again after a failed query', async () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const store = fakeStore({ started: 4, stopped: 1 });
    observeTunnelStatus(registry, store, undefined, () => 0);
    store.fail = true;
    await expect(registry.metrics()).rejects.toThrow(/database unreachable/);
    store.fail = false;
    const m = parsePrometheusText(await registry.metrics());
    expect(m.samples('st_tunnels').map((s) => [s.labels.status, s.value])).toEqual([
      ['started', 4],
      ['stopped', 1],
    ]);
    expect(store.queries).toBe(2);
  });
});
