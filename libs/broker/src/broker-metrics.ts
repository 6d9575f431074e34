import { type CounterChild, LIMIT_REFUSALS, type MetricsRegistry } from '@st/metrics';
import type { Broker } from './broker';
import { BROKER_LIMITS, type BrokerLimit, type BrokerMeter } from './broker-meter';

/**
 * The broker's Prometheus metrics. Counted as they happen: credit stalls and refusals (one
 * number added on a child bound here). Read on the scrape from the registry the broker keeps
 * anyway: live agent streams, open exchanges, queued bytes per stream, tunnels with streams.
 */
export class BrokerMetrics implements BrokerMeter {
  private readonly stalls: CounterChild;
  private readonly refusals = new Map<BrokerLimit, CounterChild>();

  constructor(private readonly registry: MetricsRegistry) {
    this.stalls = registry
      .counter({ name: 'st_broker_credit_stalls_total', help: "Times a request body waited for the agent's credit (its window was used up)" })
      .child();
    const refusals = registry.counter(LIMIT_REFUSALS);
    for (const limit of BROKER_LIMITS) this.refusals.set(limit, refusals.child(limit));
  }

  creditStall(): void {
    this.stalls.inc();
  }

  refused(limit: BrokerLimit): void {
    this.refusals.get(limit)?.inc();
  }

  /** Registers the gauges that read `broker`'s registry on each scrape. */
  observe(broker: Broker): void {
    const sessions = () => broker.registry.all();
    this.registry.gauge({
      name: 'st_broker_agent_streams',
      help: 'Agent streams this broker holds (routable or draining)',
      labelNames: ['state'],
      sample: () => {
        let draining = 0;
        const all = sessions();
        for (const s of all) if (s.isDraining) draining++;
        return [
          [['routable'], all.length - draining],
          [['draining'], draining],
        ];
      },
    });
    this.registry.gauge({
      name: 'st_broker_active_exchanges',
      help: 'Exchanges open on the agent streams of this broker (in-process and relayed)',
      sample: () => sessions().reduce((n, s) => n + s.load, 0),
    });
    this.registry.gauge({
      name: 'st_broker_stream_queued_bytes',
      help: 'Bytes queued towards agent streams, not yet taken by their sockets: the largest one stream holds (stat="max") and all together (stat="total"); ST_STREAM_QUEUE_LIMIT cuts a stream over it',
      labelNames: ['stat'],
      sample: () => {
        let max = 0;
        let total = 0;
        for (const s of sessions()) {
          const held = s.heldBytes;
          total += held;
          if (held > max) max = held;
        }
        return [
          [['max'], max],
          [['total'], total],
        ];
      },
    });
    this.registry.gauge({
      name: 'st_broker_tunnels',
      help: 'Tunnels with an agent stream on this broker, by status: running (a stream takes requests) or draining (all of its streams drain)',
      labelNames: ['status'],
      sample: () => {
        const running = new Set<string>();
        const seen = new Set<string>();
        for (const s of sessions()) {
          seen.add(s.tunnel.id);
          if (s.available) running.add(s.tunnel.id);
        }
        return [
          [['running'], running.size],
          [['draining'], seen.size - running.size],
        ];
      },
    });
  }
}
