/** One label set's values, in the order of the metric's label names. */
export type LabelValues = readonly string[];

/**
 * The children of a labelled metric, made once per label set and kept by the caller: the hot
 * path then touches plain number fields, no label object and no hash per observation
 * (prom-client's own `labels()` children hash their labels on every `inc`/`observe`).
 */
export class LabelChildren<C> {
  private readonly byKey = new Map<string, { labels: Record<string, string>; child: C }>();

  constructor(
    readonly metricName: string,
    readonly labelNames: readonly string[],
    private readonly make: () => C,
  ) {}

  child(values: LabelValues): C {
    if (values.length !== this.labelNames.length) {
      throw new Error(`metric ${this.metricName} has labels ${this.labelNames.join(', ')}: got ${values.length} values`);
    }
    const key = values.join('\u0000');
    let entry = this.byKey.get(key);
    if (!entry) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((name, i) => (labels[name] = values[i]));
      entry = { labels, child: this.make() };
      this.byKey.set(key, entry);
    }
    return entry.child;
  }

  entries(): Iterable<{ labels: Record<string, string>; child: C }> {
    return this.byKey.values();
  }
}
