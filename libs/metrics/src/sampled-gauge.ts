import type { ExposedMetric, MetricValue } from './exposed-metric';

/** A gauge's readings: one number, or one per label set (values in labelNames order). */
export type GaugeReading = number | readonly (readonly [readonly string[], number])[];

export interface SampledGaugeConfig {
  name: string;
  help: string;
  labelNames?: readonly string[];
  /** Reads the current value(s) from what the process holds anyway; runs only on a scrape. */
  sample: () => GaugeReading | Promise<GaugeReading>;
}

/**
 * A gauge read on the scrape from state the process keeps anyway (open exchanges, live streams,
 * queued bytes): nothing is counted on the hot path, and between scrapes it costs nothing.
 */
export class SampledGauge implements ExposedMetric {
  readonly type = 'gauge';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;

  constructor(private readonly config: SampledGaugeConfig) {
    this.name = config.name;
    this.help = config.help;
  }

  async get(): Promise<{ name: string; help: string; type: 'gauge'; aggregator: 'sum'; values: MetricValue[] }> {
    const reading = await this.config.sample();
    const names = this.config.labelNames ?? [];
    const values: MetricValue[] =
      typeof reading === 'number'
        ? [{ labels: {}, value: reading }]
        : reading.map(([labelValues, value]) => {
            const labels: Record<string, string> = {};
            names.forEach((n, i) => (labels[n] = labelValues[i]));
            return { labels, value };
          });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    // Nothing is kept: every scrape reads afresh.
  }
}
