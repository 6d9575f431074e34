import { describe, expect, it } from 'vitest';
import { parsePrometheusText } from '@st/testing';
import { MetricsRegistry } from './metrics-registry';

describe('MetricsRegistry', () => {
  it("keeps each registry's metrics to itself (two processes' worth in one test process)", async () => {
    const a = new MetricsRegistry({ defaultMetrics: false });
    const b = new MetricsRegistry({ defaultMetrics: false });
    a.counter({ name: 'st_things_total', help: 'things' }).child().inc(3);
    b.counter({ name: 'st_things_total', help: 'things' }).child().inc();
    expect(parsePrometheusText(await a.metrics()).value('st_things_total')).toBe(3);
    expect(parsePrometheusText(await b.metrics()).value('st_things_total')).toBe(1);
  });

  it('gives roles of one process the same counter for one name, and refuses a clash of type or labels', () => {
    const r = new MetricsRegistry({ defaultMetrics: false });
    const first = r.counter({ name: 'st_refusals_total', help: 'x', labelNames: ['limit'] });
    expect(r.counter({ name: 'st_refusals_total', help: 'x', labelNames: ['limit'] })).toBe(first);
    expect(() => r.counter({ name: 'st_refusals_total', help: 'x', labelNames: ['other'] })).toThrow(/labels limit/);
    expect(() => r.histogram({ name: 'st_refusals_total', help: 'x', buckets: [1] })).toThrow(/another type/);
    r.gauge({ name: 'st_open', help: 'x', sample: () => 1 });
    expect(() => r.gauge({ name: 'st_open', help: 'x', sample: () => 2 })).toThrow(/registered already/);
  });

  it('collects Node default metrics with the st_ prefix', async () => {
    const text = await new MetricsRegistry().metrics();
    const m = parsePrometheusText(text);
    expect(m.family('st_process_cpu_user_seconds_total')?.type).toBe('counter');
    expect([...m.families.keys()].every((n) => n.startsWith('st_'))).toBe(true);
  });

  it('writes counters by label set, histograms cumulative with +Inf, and gauges as sampled on the scrape', async () => {
    const r = new MetricsRegistry({ defaultMetrics: false });
    const requests = r.counter({ name: 'st_requests_total', help: 'requests "quoted" \\ and\nnewline', labelNames: ['kind', 'code'] });
    const chat200 = requests.child('chat', '200');
    chat200.inc();
    chat200.inc();
    requests.child('models', '401').inc();
    const latency = r.histogram({ name: 'st_latency_seconds', help: 'latency', buckets: [0.1, 1], labelNames: ['kind'] });
    const chat = latency.child('chat');
    for (const v of [0.05, 0.1, 0.5, 3]) chat.observe(v);
    let open = 2;
    r.gauge({ name: 'st_open', help: 'open', sample: () => open });
    r.gauge({ name: 'st_streams', help: 'streams', labelNames: ['state'], sample: () => [[['routable'], 1], [['draining'], 0]] });

    const m = parsePrometheusText(await r.metrics());
    expect(m.value('st_requests_total', { kind: 'chat', code: '200' })).toBe(2);
    expect(m.value('st_requests_total', { code: '401' })).toBe(1);
    expect(m.family('st_requests_total')?.help).toContain('quoted');
    const buckets = m.samples('st_latency_seconds_bucket').map((s) => [s.labels.le, s.value]);
    expect(buckets).toEqual([
      ['0.1', 2],
      ['1', 3],
      ['+Inf', 4],
    ]);
    expect(m.value('st_latency_seconds_count', { kind: 'chat' })).toBe(4);
    expect(m.value('st_latency_seconds_sum', { kind: 'chat' })).toBeCloseTo(3.65);
    expect(m.value('st_open')).toBe(2);
    expect(m.value('st_streams', { state: 'routable' })).toBe(1);
    open = 5;
    expect(parsePrometheusText(await r.metrics()).value('st_open')).toBe(5);
  });

  it('shows an unlabelled counter as 0 before anything happened', async () => {
    const r = new MetricsRegistry({ defaultMetrics: false });
    r.counter({ name: 'st_stalls_total', help: 'stalls' });
    const m = parsePrometheusText(await r.metrics());
    expect(m.samples('st_stalls_total')).toEqual([{ name: 'st_stalls_total', labels: {}, value: 0 }]);
  });
});
