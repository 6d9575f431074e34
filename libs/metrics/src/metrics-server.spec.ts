import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@st/logging';
import { parsePrometheusText } from '@st/testing';
import { MetricsRegistry } from './metrics-registry';
import { MetricsServer } from './metrics-server';

const servers: MetricsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(registry = new MetricsRegistry({ defaultMetrics: false })): Promise<string> {
  const server = new MetricsServer({ registry, logger: silentLogger(), setting: 'ST_METRICS_PORT' });
  servers.push(server);
  const port = await server.listen('127.0.0.1', 0);
  return `http://127.0.0.1:${port}`;
}

describe('MetricsServer', () => {
  it('answers GET /metrics in the Prometheus text format, and nothing else', async () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    registry.counter({ name: 'st_things_total', help: 'things' }).child().inc();
    const url = await serve(registry);
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(parsePrometheusText(await res.text()).value('st_things_total')).toBe(1);
    expect((await fetch(`${url}/`)).status).toBe(404);
    expect((await fetch(`${url}/v1/models`)).status).toBe(404);
    const post = await fetch(`${url}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('answers 500 with the reason when a gauge cannot be read', async () => {
    const registry = new MetricsRegistry({ defaultMetrics: false });
    registry.gauge({ name: 'st_broken', help: 'x', sample: () => Promise.reject(new Error('store unreachable')) });
    const res = await fetch(`${await serve(registry)}/metrics`);
    expect(res.status).toBe(500);
    expect(await res.text()).toContain('store unreachable');
  });

  it('names the setting when its port is taken', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const port = (taken.address() as { port: number }).port;
    const server = new MetricsServer({ registry: new MetricsRegistry({ defaultMetrics: false }), logger: silentLogger(), setting: 'ST_AGENT_METRICS_ADDR' });
    await expect(server.listen('127.0.0.1', port)).rejects.toThrow(/EADDRINUSE.*ST_AGENT_METRICS_ADDR/);
    taken.close();
  });
});
