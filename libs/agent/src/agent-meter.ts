/**
 * What st-agent tells its metrics as it happens; streams and open exchanges are read from the
 * supervisor on the scrape. Absent with metrics off (ST_AGENT_METRICS_ADDR unset).
 */
export interface AgentMeter {
  /** An answer waited for the broker's credit (its window was used up): the upstream is paused. */
  creditStall(): void;
  /**
   * A serving stream is being replaced by a new dial: `lost` when it ended unasked (broker killed,
   * connection cut), `drained` when its broker asked it to drain (a restart, a scale-down).
   */
  reconnect(reason: 'lost' | 'drained'): void;
  /** A dial attempt ended before the broker welcomed it (retried with backoff). */
  connectFailed(): void;
}
