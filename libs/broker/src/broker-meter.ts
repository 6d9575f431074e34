/**
 * The broker's limits whose refusals are counted (st_limit_refusals_total{limit}), named after
 * their settings or the stream limit they are.
 */
export const BROKER_LIMITS = ['streams_per_tunnel', 'stream_queue', 'ping_rate', 'health_rate', 'frames_per_message'] as const;
export type BrokerLimit = (typeof BROKER_LIMITS)[number];

/**
 * What the broker tells its metrics as it happens; everything else (streams, open exchanges,
 * queued bytes) is read from the registry on the scrape. {@link NO_BROKER_METER} with metrics off.
 */
export interface BrokerMeter {
  /** A request body waited for the agent's credit (its window was used up). */
  creditStall(): void;
  /** A limit refused an agent stream or cut one. */
  refused(limit: BrokerLimit): void;
}

export const NO_BROKER_METER: BrokerMeter = {
  creditStall: () => undefined,
  refused: () => undefined,
};
