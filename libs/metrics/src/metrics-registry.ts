import { Registry, collectDefaultMetrics } from 'prom-client';
import { CounterVec, type CounterVecConfig } from './counter-vec';
import type { ExposedMetric } from './exposed-metric';
import { HistogramVec, type HistogramVecConfig } from './histogram-vec';
import { SampledGauge, type SampledGaugeConfig } from './sampled-gauge';

/** Every metric of Session Tunnels starts with this (Node's default metrics too). */
export const METRIC_PREFIX = 'st_';

/**
 * The one prom-client registry of a process, never prom-client's global default: tests run many
 * servers in one process, and st-server's roles share this one (they may ask for the same metric,
 * e.g. st_limit_refusals_total, and get the same object). Node's default metrics (CPU, memory,
 * event loop lag, GC) are collected into it with the `st_` prefix. Our own metrics are the cheap
 * kinds of this library (CounterVec, HistogramVec, SampledGauge), which prom-client formats.
 */
export class MetricsRegistry {
  readonly registry = new Registry();

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
  }

  /** The counter of this name, made on first use (roles of one process share it). */
  counter(config: CounterVecConfig): CounterVec {
    return this.existing(config.name, CounterVec, config.labelNames) ?? this.add(new CounterVec(config));
  }

  histogram(config: HistogramVecConfig): HistogramVec {
    return this.existing(config.name, HistogramVec, config.labelNames) ?? this.add(new HistogramVec(config));
  }

  /** A gauge read on each scrape; its name must be new (two samplers of one gauge would overwrite each other). */
  gauge(config: SampledGaugeConfig): SampledGauge {
    if (this.registry.getSingleMetric(config.name)) throw new Error(`metric ${config.name} is registered already`);
    return this.add(new SampledGauge(config));
  }

  /** The exposition text (Prometheus text format 0.0.4); runs every gauge's sampler. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private add<M extends ExposedMetric>(metric: M): M {
    // prom-client formats anything with a name, help, type and get().
    this.registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
    return metric;
  }

  private existing<M>(name: string, type: new (config: never) => M, labelNames: readonly string[] | undefined): M | undefined {
    const found = this.registry.getSingleMetric(name) as unknown;
    if (found === undefined) return undefined;
    // Two roles defining one name differently is a programming error: say which.
    if (!(found instanceof type)) throw new Error(`metric ${name} is registered already as another type`);
    const known = (found as { labelNames?: readonly string[] }).labelNames;
    if (known && known.join() !== (labelNames ?? []).join()) throw new Error(`metric ${name} is registered already with labels ${known.join(', ')}`);
    return found;
  }
}
