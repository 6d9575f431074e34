import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from '@st/metrics';
import type { BrokerFrame } from '@st/proto';
import { parsePrometheusText } from '@st/testing';
import type { Broker } from './broker';
import { BrokerExchange, type ExchangeStream } from './broker-exchange';
import { BrokerMetrics } from './broker-metrics';

/** A broker as the metrics read it: its registry's sessions and their state. */
function fakeBroker(sessions: { tunnel: string; load: number; heldBytes: number; draining?: boolean }[]): Broker {
  const all = () => sessions.map((s) => ({ tunnel: { id: s.tunnel }, load: s.load, heldBytes: s.heldBytes, isDraining: s.draining ?? false, available: !s.draining }));
  return { registry: { all } } as unknown as Broker;
}

describe('BrokerMetrics', () => {
  it('reads streams, open exchanges, queued bytes and tunnels from the registry on the scrape', async () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const sessions = [
      { tunnel: 't-1', load: 2, heldBytes: 100 },
      { tunnel: 't-1', load: 1, heldBytes: 5000, draining: true },
      { tunnel: 't-2', load: 0, heldBytes: 0, draining: true },
    ];
    new BrokerMetrics(registry).observe(fakeBroker(sessions));
    const m = parsePrometheusText(await registry.metrics());
    expect(m.value('st_broker_agent_streams', { state: 'routable' })).toBe(1);
    expect(m.value('st_broker_agent_streams', { state: 'draining' })).toBe(2);
    expect(m.value('st_broker_active_exchanges')).toBe(3);
    expect(m.value('st_broker_stream_queued_bytes', { stat: 'max' })).toBe(5000);
    expect(m.value('st_broker_stream_queued_bytes', { stat: 'total' })).toBe(5100);
    expect(m.value('st_broker_tunnels', { status: 'running' })).toBe(1);
    expect(m.value('st_broker_tunnels', { status: 'draining' })).toBe(1);
    sessions.length = 0;
    expect(parsePrometheusText(await registry.metrics()).value('st_broker_agent_streams')).toBe(0);
  });

  it('counts refusals by limit into the counter the gateway shares', async () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const metrics = new BrokerMetrics(registry);
    metrics.refused('streams_per_tunnel');
    metrics.refused('stream_queue');
    metrics.refused('stream_queue');
    const m = parsePrometheusText(await registry.metrics());
    expect(m.value('st_limit_refusals_total', { limit: 'stream_queue' })).toBe(2);
    expect(m.value('st_limit_refusals_total', { limit: 'streams_per_tunnel' })).toBe(1);
    expect(m.value('st_limit_refusals_total', { limit: 'ping_rate' })).toBe(0);
  });

  it("counts a request body's wait for the agent's credit, once per wait", async () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const meter = new BrokerMetrics(registry);
    const sent: BrokerFrame[] = [];
    const stream: ExchangeStream = {
      send: (f) => sent.push(f),
      cancelExchange: () => undefined,
      remove: () => undefined,
      writable: true,
      whenWritable: () => Promise.resolve(),
      agentWindow: 100,
      brokerWindow: 100,
      maxChunkBytes: 64,
      meter,
    };
    const exchange = new BrokerExchange(1, stream, { head: () => undefined, data: () => undefined, error: () => undefined });
    exchange.start({ requestId: 'r', method: 'POST', path: '/v1/x', query: '', headers: [], body: new Uint8Array(0), end: false });
    const written = exchange.write(new Uint8Array(250), true);
    await new Promise((r) => setImmediate(r));
    const stalls = async () => parsePrometheusText(await registry.metrics()).value('st_broker_credit_stalls_total');
    expect(await stalls()).toBe(1);
    exchange.onCredit(100);
    await new Promise((r) => setImmediate(r));
    expect(await stalls()).toBe(2);
    exchange.onCredit(100);
    await written;
    expect(await stalls()).toBe(2);
  });
});
