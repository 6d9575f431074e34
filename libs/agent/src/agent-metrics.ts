import type { CounterChild, MetricsRegistry } from '@st/metrics';
import type { AgentMeter } from './agent-meter';

/** What the supervisor holds right now, read on each scrape. */
export interface AgentStreamsSnapshot {
  /** Streams welcomed by their broker. */
  connected: number;
  /** Streams dialling or waiting for Welcome. */
  connecting: number;
  /** Exchanges open on all streams. */
  openExchanges: number;
}

/** st-agent's Prometheus metrics: its own registry, served on ST_AGENT_METRICS_ADDR. */
export class AgentMetrics implements AgentMeter {
  private readonly stalls: CounterChild;
  private readonly lost: CounterChild;
  private readonly drained: CounterChild;
  private readonly failures: CounterChild;

  constructor(private readonly registry: MetricsRegistry) {
    this.stalls = registry
      .counter({ name: 'st_agent_credit_stalls_total', help: "Times an answer waited for the broker's credit (the model server's response was paused)" })
      .child();
    const reconnects = registry.counter({
      name: 'st_agent_reconnects_total',
      help: 'Serving streams replaced by a new dial, by reason: lost (ended unasked: broker killed, connection cut) or drained (the broker asked: restart, scale-down)',
      labelNames: ['reason'],
    });
    this.lost = reconnects.child('lost');
    this.drained = reconnects.child('drained');
    this.failures = registry
      .counter({ name: 'st_agent_connect_failures_total', help: 'Dial attempts that ended before the broker welcomed the stream (unreachable, refused, TLS)' })
      .child();
  }

  creditStall(): void {
    this.stalls.inc();
  }

  reconnect(reason: 'lost' | 'drained'): void {
    (reason === 'lost' ? this.lost : this.drained).inc();
  }

  connectFailed(): void {
    this.failures.inc();
  }

  /** Registers the gauges read from the supervisor on each scrape. */
  observe(snapshot: () => AgentStreamsSnapshot): void {
    this.registry.gauge({
      name: 'st_agent_streams',
      help: 'Streams to brokers: connected (welcomed) or connecting',
      labelNames: ['state'],
      sample: () => {
        const s = snapshot();
        return [
          [['connected'], s.connected],
          [['connecting'], s.connecting],
        ];
      },
    });
    this.registry.gauge({
      name: 'st_agent_active_exchanges',
      help: 'Exchanges open on the agent (requests being answered by the model server)',
      sample: () => snapshot().openExchanges,
    });
  }
}
