/**
 * Histogram buckets, in seconds: from a cached 401 (sub-millisecond) to a long generation
 * (minutes). Fixed here so that every role's histograms can be aggregated together.
 */
export const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** Tokens per second of a streamed answer: a CPU model's few to a fast GPU's hundreds. */
export const TOKEN_RATE_BUCKETS = [1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000];
