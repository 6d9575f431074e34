import type { Logger } from '@st/logging';
import type { HealthReport } from '@st/proto';
import { probeModelServer } from './health-probe';
import { UpstreamClient } from './upstream-client';

/** What one stream wants probed, and how often (the broker's Welcome.health_interval_ms). */
export interface HealthSubject {
  upstreamUrl: string;
  headers: Record<string, string>;
  intervalMs: number;
}

type Listener = (report: HealthReport) => void;

/** One probe loop: one model server, probed once per interval for every stream that reports it. */
class ProbeLoop {
  private readonly upstream: UpstreamClient;
  private readonly listeners = new Set<Listener>();
  private timer: NodeJS.Timeout | undefined;
  private last: HealthReport | undefined;
  private verdict = '';
  private intervalMs = Infinity;

  constructor(
    private readonly subject: HealthSubject,
    private readonly logger: Logger,
  ) {
    this.upstream = new UpstreamClient(subject.upstreamUrl);
  }

  get idle(): boolean {
    return this.listeners.size === 0;
  }

  add(listener: Listener, intervalMs: number): void {
    this.listeners.add(listener);
    // A new stream is routed to only once it has reported: it gets the latest verdict at once.
    if (this.last) listener(this.last);
    if (intervalMs < this.intervalMs) {
      this.intervalMs = intervalMs;
      if (this.timer) clearInterval(this.timer);
      if (!this.last) void this.probe();
      this.timer = setInterval(() => void this.probe(), intervalMs);
      this.timer.unref();
    }
  }

  remove(listener: Listener): void {
    this.listeners.delete(listener);
    if (this.idle) this.close();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.upstream.close().catch(() => undefined);
  }

  private async probe(): Promise<void> {
    const report = await probeModelServer(this.upstream, this.subject.headers);
    if (this.idle) return;
    const verdict = `${report.healthy}|${report.models.join(',')}|${report.error}`;
    if (verdict !== this.verdict) {
      this.logger[report.healthy ? 'info' : 'warn']({ healthy: report.healthy, models: report.models, error: report.error || undefined }, 'model server health');
      this.verdict = verdict;
    }
    this.last = report;
    for (const listener of [...this.listeners]) listener(report);
  }
}

/**
 * Probes the model server once for all of the agent's streams and hands each report to every
 * stream, which sends it to its own broker: health is kept per stream by the brokers, but two
 * streams do not double the probes the model server sees.
 */
export class HealthMonitor {
  private readonly loops = new Map<string, ProbeLoop>();

  constructor(private readonly logger: Logger) {}

  /** Calls `listener` with every report (the latest at once, if any); returns the unsubscribe. */
  subscribe(subject: HealthSubject, listener: Listener): () => void {
    const key = `${subject.upstreamUrl}\n${JSON.stringify(subject.headers)}`;
    let loop = this.loops.get(key);
    if (!loop) {
      loop = new ProbeLoop(subject, this.logger);
      this.loops.set(key, loop);
    }
    const owned = loop;
    owned.add(listener, subject.intervalMs);
    let subscribed = true;
    return () => {
      if (!subscribed) return;
      subscribed = false;
      owned.remove(listener);
      if (owned.idle && this.loops.get(key) === owned) this.loops.delete(key);
    };
  }
}
