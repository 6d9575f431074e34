import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplicaStack, type Tenant, metricsUrlOf, scrapeMetrics } from '@st/testing';
import { MODEL, openai } from './support';

// The split layout with ST_METRICS_PORT on every replica: st-broker, st-gateway and st-discovery
// each serve /metrics on a port of their own, with the metrics of their role.

let stack: ReplicaStack;
let alice: Tenant;
const urls: Record<'broker' | 'gateway' | 'discovery', string> = { broker: '', gateway: '', discovery: '' };

beforeAll(async () => {
  stack = await ReplicaStack.start({ brokers: 1, gateways: 1, serverEnv: { ST_METRICS_PORT: 0 } });
  alice = await stack.createTenant('alice');
  stack.startAgent(alice.agentToken, { ST_BROKER_CONNECTIONS: 1 });
  await stack.waitForStreams(alice, { count: 1 });
  urls.broker = await metricsUrlOf(stack.brokers[0].process);
  urls.gateway = await metricsUrlOf(stack.gateways[0].process);
  urls.discovery = await metricsUrlOf(stack.discovery.process);
}, 240_000);

afterAll(async () => {
  await stack?.stop();
});

describe('metrics of the split processes', () => {
  it("each serves /metrics with its role's metrics, moved by a request through the gateway", async () => {
    const before = await scrapeMetrics(urls.gateway);
    const client = openai(stack.baseURLs(alice.tunnelId)[0], alice.apiKey);
    await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'split' }], max_tokens: 3 });

    const gateway = await scrapeMetrics(urls.gateway);
    expect(gateway.value('st_gateway_requests_total', { kind: 'chat', code: '200' }) - before.value('st_gateway_requests_total', { kind: 'chat', code: '200' })).toBe(1);
    expect(gateway.family('st_broker_agent_streams')).toBeUndefined();

    const broker = await scrapeMetrics(urls.broker);
    expect(broker.value('st_broker_agent_streams')).toBe(1);
    expect(broker.value('st_broker_tunnels', { status: 'running' })).toBe(1);
    expect(broker.family('st_gateway_requests_total')).toBeUndefined();

    const discovery = await scrapeMetrics(urls.discovery);
    expect(discovery.family('st_process_cpu_user_seconds_total')?.type).toBe('counter');
    expect(discovery.family('st_gateway_requests_total')).toBeUndefined();
    expect(discovery.family('st_broker_agent_streams')).toBeUndefined();
    // The tenant's tunnel, as PostgreSQL holds it; its live status is the brokers' to tell.
    expect(discovery.value('st_tunnels', { status: 'started' })).toBe(1);
    expect(discovery.value('st_tunnels', { status: 'stopped' })).toBe(0);
    expect(broker.family('st_tunnels')).toBeUndefined();
  }, 60_000);
});
