import type { Logger } from '@st/logging';
import { type UsageDelta, hourOf } from '@st/store';

const HOUR_MS = 3_600_000;
import type { UsageEntry, UsageRecorder } from './usage-recorder';

/** Where batches go (the Store). */
export interface UsageWriter {
  addUsage(deltas: readonly UsageDelta[]): Promise<void>;
}

export interface UsageBatcherOptions {
  writer: UsageWriter;
  logger: Logger;
  /** How often a batch is written (default 1 s). */
  flushIntervalMs?: number;
  /** A batch is written as soon as it holds this many distinct rows (default 500). */
  maxRows?: number;
  /**
   * Rows held at most while the store cannot be written (default 50,000): beyond, new usage is
   * dropped (counted, and logged at most every 30 s) rather than growing without bound.
   */
  maxPendingRows?: number;
  /** The clock (tests). */
  now?: () => number;
}

const DEFAULTS = { flushIntervalMs: 1_000, maxRows: 500, maxPendingRows: 50_000 };
const WARN_EVERY_MS = 30_000;

/**
 * The gateway's {@link UsageRecorder}: entries are summed in memory per (user, tunnel, model,
 * hour) and written to the store once a second, or sooner when a batch fills, one write at a
 * time. Recording is a map update: no request ever waits on the store. A failed write keeps its
 * rows and tries again with the next batch; on close what is left is written once more.
 */
export class UsageBatcher implements UsageRecorder {
  private pending = new Map<string, UsageDelta>();
  private writing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly options: Required<Omit<UsageBatcherOptions, 'now'>> & { now: () => number };
  private dropped = 0;
  private lastWarn = -Infinity;
  private closed = false;
  private hourStart = -Infinity;
  /** The row the last entry went to, and the pending map it is in (a flush starts a new one). */
  private lastRow: UsageDelta | undefined;
  private lastIn: Map<string, UsageDelta> | undefined;
  private hourKey = '';

  constructor(options: UsageBatcherOptions) {
    this.options = { ...DEFAULTS, now: Date.now, ...options };
    this.timer = setInterval(() => this.flushSoon(), this.options.flushIntervalMs);
    this.timer.unref();
  }

  record(entry: UsageEntry): void {
    const hour = this.hourNow();
    // The row of the last entry, when this one is for the same (user, tunnel, model, hour): no key
    // string made and hashed per request for a tunnel under load.
    const last = this.lastRow;
    if (last && this.lastIn === this.pending && last.hour === hour && last.userId === entry.userId && last.tunnelId === entry.tunnelId && last.model === entry.model) {
      add(last, entry);
      return;
    }
    const key = `${entry.userId}\u0000${entry.tunnelId}\u0000${entry.model}\u0000${hour}`;
    const row = this.pending.get(key);
    if (row) {
      add(row, entry);
      this.remember(row);
      return;
    }
    if (this.pending.size >= this.options.maxPendingRows) {
      this.dropped++;
      this.warnDropped();
      return;
    }
    const added = new PendingRow(entry, hour);
    this.pending.set(key, added);
    this.remember(added);
    if (this.pending.size >= this.options.maxRows) this.flushSoon();
  }

  private remember(row: UsageDelta): void {
    this.lastRow = row;
    this.lastIn = this.pending;
  }

  /** The current hour's key, made once per hour: a Date and its ISO string per request showed in c=64 profiles. */
  private hourNow(): string {
    const now = this.options.now();
    if (now < this.hourStart || now >= this.hourStart + HOUR_MS) {
      this.hourStart = Math.floor(now / HOUR_MS) * HOUR_MS;
      this.hourKey = hourOf(this.hourStart);
    }
    return this.hourKey;
  }

  /** Writes what is pending now (and waits for a write already running). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.pending.size === 0) return;
    this.writing = this.write();
    await this.writing;
  }

  /** Stops the timer and writes what is left. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.flush();
  }

  private flushSoon(): void {
    if (this.writing || this.pending.size === 0) return;
    this.writing = this.write();
  }

  private async write(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    try {
      await this.options.writer.addUsage([...batch.values()]);
    } catch (err) {
      // Kept for the next batch (merged with what came meanwhile), within the bound.
      for (const [key, row] of batch) this.merge(key, row);
      if (this.options.now() - this.lastWarn > WARN_EVERY_MS) {
        this.lastWarn = this.options.now();
        this.options.logger.warn({ err, rows: this.pending.size }, 'writing usage to the store failed: kept for the next batch (check the database)');
      }
    } finally {
      this.writing = undefined;
    }
  }

  private merge(key: string, row: UsageDelta): void {
    const newer = this.pending.get(key);
    if (newer) {
      newer.promptTokens += row.promptTokens;
      newer.completionTokens += row.completionTokens;
      newer.requests += row.requests;
    } else if (this.pending.size < this.options.maxPendingRows) this.pending.set(key, row);
    else this.dropped += row.requests;
  }

  private warnDropped(): void {
    const now = this.options.now();
    if (now - this.lastWarn < WARN_EVERY_MS) return;
    this.lastWarn = now;
    this.options.logger.warn(
      { dropped: this.dropped, rows: this.pending.size },
      'usage not recorded: too many rows wait for the store (is the database down?); requests are still served',
    );
  }
}

/**
 * A row of the pending batch. A class, not a spread of the entry: the spread's objects came in
 * several hidden classes, and every read and add on the last row went through megamorphic
 * property lookups (callgrind, st-server: 7 loads and 4 stores per request).
 */
class PendingRow implements UsageDelta {
  userId: string;
  tunnelId: string;
  tunnelName: string;
  model: string;
  promptTokens: number;
  completionTokens: number;
  requests = 1;

  constructor(
    entry: UsageEntry,
    readonly hour: string,
  ) {
    this.userId = entry.userId;
    this.tunnelId = entry.tunnelId;
    this.tunnelName = entry.tunnelName;
    this.model = entry.model;
    this.promptTokens = entry.promptTokens;
    this.completionTokens = entry.completionTokens;
  }
}

function add(row: UsageDelta, entry: UsageEntry): void {
  row.tunnelName = entry.tunnelName;
  row.promptTokens += entry.promptTokens;
  row.completionTokens += entry.completionTokens;
  row.requests += 1;
}
