import { LabelChildren, type LabelValues } from './label-children';
import type { ExposedMetric, MetricValue } from './exposed-metric';

/** One label set of a counter: `inc` adds to a number, nothing more. */
export class CounterChild {
  value = 0;

  inc(by = 1): void {
    this.value += by;
  }
}

export interface CounterVecConfig {
  name: string;
  help: string;
  labelNames?: readonly string[];
}

/**
 * A counter whose hot path is `child.inc()` on a child made once ({@link child}); prom-client's
 * registry reads the numbers only when scraped.
 */
export class CounterVec implements ExposedMetric {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  private readonly children: LabelChildren<CounterChild>;

  constructor(config: CounterVecConfig) {
    this.name = config.name;
    this.help = config.help;
    this.labelNames = config.labelNames ?? [];
    this.children = new LabelChildren(config.name, config.labelNames ?? [], () => new CounterChild());
    // An unlabelled counter is shown as 0 before its first increment, as prom-client does.
    if ((config.labelNames ?? []).length === 0) this.children.child([]);
  }

  /** The child of these label values (in labelNames order); keep it, do not ask per event. */
  child(...values: LabelValues): CounterChild {
    return this.children.child(values);
  }

  get(): Promise<{ name: string; help: string; type: 'counter'; aggregator: 'sum'; values: MetricValue[] }> {
    const values: MetricValue[] = [];
    for (const { labels, child } of this.children.entries()) values.push({ labels, value: child.value });
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  reset(): void {
    for (const { child } of this.children.entries()) child.value = 0;
  }
}
