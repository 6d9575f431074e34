import { describe, expect, it } from 'vitest';
import { silentLogger } from '@st/logging';
import { MetricsRegistry } from '@st/metrics';
import type { AgentFrame, RequestOpen } from '@st/proto';
import { parsePrometheusText } from '@st/testing';
import { AgentMetrics } from './agent-metrics';
import { type ExchangeContext, UpstreamExchange } from './upstream-exchange';
import type { UpstreamClient } from './upstream-client';

const scrape = async (r: MetricsRegistry) => parsePrometheusText(await r.metrics());

describe('AgentMetrics', () => {
  it("reads the supervisor's streams and open exchanges on the scrape", async () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    let snapshot = { connected: 2, connecting: 1, openExchanges: 7 };
    new AgentMetrics(registry).observe(() => snapshot);
    let m = await scrape(registry);
    expect(m.value('st_agent_streams', { state: 'connected' })).toBe(2);
    expect(m.value('st_agent_streams', { state: 'connecting' })).toBe(1);
    expect(m.value('st_agent_active_exchanges')).toBe(7);
    snapshot = { connected: 0, connecting: 0, openExchanges: 0 };
    m = await scrape(registry);
    expect(m.value('st_agent_streams')).toBe(0);
  });

  it('counts reconnects by reason and failed dials apart', async () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const metrics = new AgentMetrics(registry);
    metrics.reconnect('lost');
    metrics.reconnect('drained');
    metrics.reconnect('lost');
    metrics.connectFailed();
    const m = await scrape(registry);
    expect(m.value('st_agent_reconnects_total', { reason: 'lost' })).toBe(2);
    expect(m.value('st_agent_reconnects_total', { reason: 'drained' })).toBe(1);
    expect(m.value('st_agent_connect_failures_total')).toBe(1);
  });

  it("counts an answer's wait for the broker's credit once, however many chunks wait with it", async () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    const meter = new AgentMetrics(registry);
    const frames: AgentFrame[] = [];
    const flushes: (() => void)[] = [];
    const ctx: ExchangeContext = {
      send: (f) => frames.push(f),
      beforeFlush: (p) => flushes.push(p),
      remove: () => undefined,
      upstream: { origin: 'http://127.0.0.1:1' } as unknown as UpstreamClient,
      brokerWindow: 100,
      agentWindow: 100,
      maxChunkBytes: 64,
      logger: silentLogger(),
      meter,
    };
    const exchange = new UpstreamExchange(1, { exchangeId: 1, requestId: 'r', method: 'GET', path: '/v1/models', query: '', headers: [], body: new Uint8Array(0), end: true } as RequestOpen, ctx);
    exchange.onConnect(() => undefined);
    exchange.onHeaders(200, [], () => undefined);
    exchange.onData(Buffer.alloc(80));
    expect((await scrape(registry)).value('st_agent_credit_stalls_total')).toBe(0);
    exchange.onData(Buffer.alloc(80));
    exchange.onData(Buffer.alloc(80));
    expect((await scrape(registry)).value('st_agent_credit_stalls_total')).toBe(1);
    exchange.grantCredit(500);
    exchange.onData(Buffer.alloc(80));
    expect((await scrape(registry)).value('st_agent_credit_stalls_total')).toBe(1);
  });
});
