import { LabelChildren, type LabelValues } from './label-children';
import type { ExposedMetric, MetricValue } from './exposed-metric';

/** One label set of a histogram: a count per bucket (not cumulative until scraped), sum and count. */
export class HistogramChild {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    // One more slot for +Inf.
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}

export interface HistogramVecConfig {
  name: string;
  help: string;
  /** Upper bounds, ascending; +Inf is added. */
  buckets: readonly number[];
  labelNames?: readonly string[];
}

/** A histogram whose hot path is `child.observe(v)`: a bucket search and three additions. */
export class HistogramVec implements ExposedMetric {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  private readonly children: LabelChildren<HistogramChild>;
  private readonly bounds: readonly number[];

  constructor(config: HistogramVecConfig) {
    this.name = config.name;
    this.help = config.help;
    this.labelNames = config.labelNames ?? [];
    this.bounds = [...config.buckets].sort((a, b) => a - b);
    this.children = new LabelChildren(config.name, config.labelNames ?? [], () => new HistogramChild(this.bounds));
    if ((config.labelNames ?? []).length === 0) this.children.child([]);
  }

  child(...values: LabelValues): HistogramChild {
    return this.children.child(values);
  }

  get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: MetricValue[] }> {
    const values: MetricValue[] = [];
    for (const { labels, child } of this.children.entries()) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += child.counts[i];
        const le = i < this.bounds.length ? String(this.bounds[i]) : '+Inf';
        values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_sum`, labels, value: child.sum });
      values.push({ metricName: `${this.name}_count`, labels, value: child.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  reset(): void {
    for (const { child } of this.children.entries()) {
      child.counts.fill(0);
      child.sum = 0;
      child.count = 0;
    }
  }
}
