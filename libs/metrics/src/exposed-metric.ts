/** One line of a metric as prom-client's Registry formats it. */
export interface MetricValue {
  value: number;
  labels: Record<string, string>;
  /** `<name>_bucket`, `_sum`, `_count` for a histogram's lines. */
  metricName?: string;
}

/** What prom-client's Registry.registerMetric needs of a metric: a name, help, type and values. */
export interface ExposedMetric {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly aggregator: string;
  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: MetricValue[] }>;
  reset(): void;
}
