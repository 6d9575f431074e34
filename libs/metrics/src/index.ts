export { MetricsRegistry, METRIC_PREFIX } from './metrics-registry';
export { MetricsServer } from './metrics-server';
export type { MetricsServerOptions } from './metrics-server';
export { CounterVec, CounterChild } from './counter-vec';
export { HistogramVec, HistogramChild } from './histogram-vec';
export { SampledGauge } from './sampled-gauge';
export type { GaugeReading } from './sampled-gauge';
export { SECONDS_BUCKETS, TOKEN_RATE_BUCKETS } from './buckets';
export { LIMIT_REFUSALS } from './shared-metrics';
