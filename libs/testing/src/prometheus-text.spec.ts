import { describe, expect, it } from 'vitest';
import { parsePrometheusText } from './prometheus-text';

const GOOD = `# HELP st_requests_total Requests.
# TYPE st_requests_total counter
st_requests_total{kind="chat",code="200"} 3
st_requests_total{kind="say \\"hi\\"\\n",code="404"} 1

# HELP st_latency_seconds Latency.
# TYPE st_latency_seconds histogram
st_latency_seconds_bucket{le="0.1"} 1
st_latency_seconds_bucket{le="+Inf"} 2
st_latency_seconds_sum 0.6
st_latency_seconds_count 2
# TYPE st_lag gauge
st_lag Nan
`;

describe('parsePrometheusText', () => {
  it('reads families, labels with escapes, histograms and NaN as prom-client writes it', () => {
    const m = parsePrometheusText(GOOD);
    expect(m.family('st_requests_total')).toMatchObject({ type: 'counter', help: 'Requests.' });
    expect(m.value('st_requests_total')).toBe(4);
    expect(m.samples('st_requests_total')[1].labels.kind).toBe('say "hi"\n');
    expect(m.value('st_latency_seconds_count')).toBe(2);
    expect(Number.isNaN(m.samples('st_lag')[0].value)).toBe(true);
  });

  it.each([
    ['a sample without TYPE', 'st_x 1\n', /no TYPE/],
    ['a bad label name', '# TYPE st_x gauge\nst_x{1a="b"} 1\n', /bad label name/],
    ['an unquoted label value', '# TYPE st_x gauge\nst_x{a=b} 1\n', /expected =/],
    ['a bad escape', '# TYPE st_x gauge\nst_x{a="\\t"} 1\n', /bad escape/],
    ['a bad value', '# TYPE st_x gauge\nst_x 1,5\n', /bad value/],
    ['a missing newline at the end', '# TYPE st_x gauge\nst_x 1', /newline/],
    ['a family split in two', '# TYPE st_x gauge\nst_x 1\n# TYPE st_y gauge\nst_y 1\nst_x 2\n', /apart/],
    ['a histogram without +Inf', '# TYPE st_h histogram\nst_h_bucket{le="1"} 1\nst_h_sum 1\nst_h_count 1\n', /\+Inf/],
    ['a histogram whose count differs', '# TYPE st_h histogram\nst_h_bucket{le="+Inf"} 2\nst_h_sum 1\nst_h_count 1\n', /_count/],
    ['a negative counter', '# TYPE st_c counter\nst_c -1\n', /negative/],
    ['a duplicate label', '# TYPE st_x gauge\nst_x{a="1",a="2"} 1\n', /twice/],
  ])('rejects %s', (_what, text, error) => {
    expect(() => parsePrometheusText(text)).toThrow(error);
  });
});
