import type { Logger } from '@st/logging';

/** How often at most a summary of 429s is logged. */
const SUMMARY_INTERVAL_MS = 10_000;

/**
 * Counts requests refused by the limits and logs one warn line per interval with how many and
 * the latest cause, instead of one line per 429 (a flood is thousands a second).
 */
export class RefusalSummary {
  private refused = 0;
  private lastLoggedAt = -Infinity;

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number = () => performance.now(),
  ) {}

  record(userId: string, message: string): void {
    this.refused++;
    const now = this.now();
    if (now - this.lastLoggedAt < SUMMARY_INTERVAL_MS) return;
    const since = Number.isFinite(this.lastLoggedAt) ? Math.round(now - this.lastLoggedAt) : undefined;
    this.lastLoggedAt = now;
    this.logger.warn({ refused: this.refused, sinceMs: since, userId }, `requests refused by the limits (latest: ${message})`);
    this.refused = 0;
  }
}
