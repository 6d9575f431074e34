import { type BrokerMeter, NO_BROKER_METER } from './broker-meter';
import type { HealthReport } from '@st/proto';
import { DEFAULT_HEALTH_INTERVAL_MS, DEFAULT_MAX_CHUNK_BYTES, DEFAULT_PING_INTERVAL_MS, DEFAULT_RECEIVE_WINDOW } from '@st/tunnel-protocol';
import type { AgentSession } from './agent-session';

/** Default of ST_STREAM_QUEUE_LIMIT: bytes the broker holds towards one agent stream before cutting it. */
export const DEFAULT_STREAM_QUEUE_LIMIT = 8 * 1024 * 1024;

/** How an AgentSession tells its owner about itself. */
export interface AgentSessionEvents {
  /** Register arrived and Welcome went out: the stream takes exchanges. */
  ready(session: AgentSession): void;
  /** The stream is gone. */
  closed(session: AgentSession): void;
  /** The agent reported its model server's health. */
  health(session: AgentSession, report: HealthReport): void;
  /** The agent is stopping (Draining): the stream takes no new exchanges any more. */
  draining?(session: AgentSession): void;
  /** Register arrived (its agent instance id and epoch are known); Welcome went out. */
  registered?(session: AgentSession): void;
}

export interface AgentSessionOptions {
  brokerId: string;
  /** How often agents probe their model server (Welcome.health_interval_ms). */
  healthIntervalMs?: number;
  /** Bytes of response body the agent may send per exchange before waiting for credit. */
  receiveWindow?: number;
  maxChunkBytes?: number;
  pingIntervalMs?: number;
  /** ST_STREAM_QUEUE_LIMIT: queued plus unsent bytes towards the agent before the stream is cut. */
  streamQueueLimitBytes?: number;
  /** Distinct brokers live now, this one included (Welcome.live_brokers); 1 when brokers share nothing. */
  liveBrokers?: () => number;
  /** Prometheus metrics (credit stalls, limit refusals); none when absent. */
  meter?: BrokerMeter;
}

/** The options with every default filled in. */
export function sessionOptionsWithDefaults(options: AgentSessionOptions): Required<AgentSessionOptions> {
  return {
    brokerId: options.brokerId,
    healthIntervalMs: options.healthIntervalMs ?? DEFAULT_HEALTH_INTERVAL_MS,
    receiveWindow: options.receiveWindow ?? DEFAULT_RECEIVE_WINDOW,
    maxChunkBytes: options.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES,
    pingIntervalMs: options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS,
    streamQueueLimitBytes: options.streamQueueLimitBytes ?? DEFAULT_STREAM_QUEUE_LIMIT,
    liveBrokers: options.liveBrokers ?? (() => 1),
    meter: options.meter ?? NO_BROKER_METER,
  };
}
