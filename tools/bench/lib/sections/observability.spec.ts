import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs module of the bench, without type declarations
import { compare, onPartsOf, render } from './observability.mjs';

describe('observability section', () => {
  it('turns on usage, metrics or both on the on side, and refuses anything else by name', () => {
    expect(onPartsOf(undefined)).toEqual({ usage: true, metrics: true });
    expect(onPartsOf('usage')).toEqual({ usage: true, metrics: false });
    expect(onPartsOf('metrics')).toEqual({ usage: false, metrics: true });
    expect(() => onPartsOf('tracing')).toThrow(/BENCH_OBSERVABILITY_ON=tracing: expected usage, metrics or both/);
  });

  it('reads phases that did not run as n/a, never as a pass', () => {
    const results = { ttft: { off: { p50: 2, n: 300 }, on: { p50: 2.2, n: 300 } } };
    const comparison = compare(results);
    const ttft = comparison.find((c: { label: string }) => c.label.startsWith('TTFT'));
    expect(ttft.ratio).toBeCloseTo(1.1);
    expect(ttft.ok).toBe(false);
    expect(comparison.filter((c: { ok?: boolean }) => c.ok === undefined).length).toBe(comparison.length - 1);
    const text = render({
      quick: false,
      aa: false,
      onParts: { usage: true, metrics: false },
      pairs: 1,
      spec: { c1: { count: 1, rounds: 1 }, c64: { durationMs: 1000, rounds: 1 }, ttft: { count: 300 }, sse: { runs: 1 }, big: { runs: 1 } },
      bigTokens: 1,
      results,
      scrapes: { scrapes: 0, failed: 0 },
      elapsedS: 1,
      comparison,
      targets: [{ name: 'within 5 %', measured: '0 of 11', ok: undefined }],
    });
    expect(text).toContain('on: ST_USAGE=on, no metrics port (BENCH_OBSERVABILITY_ON=usage)');
    expect(text).toMatch(/c=64 {2}requests\/s +n\/a +n\/a/);
  });
});
