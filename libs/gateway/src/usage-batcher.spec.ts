import { silentLogger } from '@st/logging';
import type { UsageDelta } from '@st/store';
import { describe, expect, it } from 'vitest';
import { UsageBatcher } from './usage-batcher';
import type { UsageEntry } from './usage-recorder';

const HOUR = Date.parse('2026-03-01T10:00:00.000Z');
const entry = (over: Partial<UsageEntry> = {}): UsageEntry => ({
  userId: 'u-1',
  tunnelId: 't-1',
  tunnelName: 'gpu',
  model: 'm',
  promptTokens: 2,
  completionTokens: 3,
  ...over,
});

/** A writer that keeps every batch, and can be made to fail. */
class Writer {
  batches: UsageDelta[][] = [];
  failing = false;
  async addUsage(deltas: readonly UsageDelta[]): Promise<void> {
    if (this.failing) throw new Error('database down');
    this.batches.push([...deltas]);
  }
}

describe('UsageBatcher', () => {
  it('sums entries per user, tunnel, model and hour, and writes them in one batch', async () => {
    const writer = new Writer();
    let now = HOUR + 10;
    const batcher = new UsageBatcher({ writer, logger: silentLogger(), now: () => now, flushIntervalMs: 60_000 });
    batcher.record(entry());
    batcher.record(entry({ tunnelName: 'gpu-renamed' }));
    batcher.record(entry({ model: 'other' }));
    now += 3_600_000;
    batcher.record(entry());
    await batcher.close();
    expect(writer.batches).toHaveLength(1);
    expect(writer.batches[0]).toEqual([
      { userId: 'u-1', tunnelId: 't-1', tunnelName: 'gpu-renamed', model: 'm', hour: '2026-03-01T10:00:00.000Z', promptTokens: 4, completionTokens: 6, requests: 2 },
      { userId: 'u-1', tunnelId: 't-1', tunnelName: 'gpu', model: 'other', hour: '2026-03-01T10:00:00.000Z', promptTokens: 2, completionTokens: 3, requests: 1 },
      { userId: 'u-1', tunnelId: 't-1', tunnelName: 'gpu', model: 'm', hour: '2026-03-01T11:00:00.000Z', promptTokens: 2, completionTokens: 3, requests: 1 },
    ]);
  });

  it('writes as soon as a batch is full, one write at a time', async () => {
    const writer = new Writer();
    const batcher = new UsageBatcher({ writer, logger: silentLogger(), maxRows: 2, flushIntervalMs: 60_000 });
    batcher.record(entry({ model: 'a' }));
    batcher.record(entry({ model: 'b' }));
    batcher.record(entry({ model: 'c' }));
    await batcher.flush();
    await batcher.close();
    expect(writer.batches.map((b) => b.map((d) => d.model))).toEqual([['a', 'b'], ['c']]);
  });

  it('keeps what a failed write held and writes it with the next batch', async () => {
    const writer = new Writer();
    const batcher = new UsageBatcher({ writer, logger: silentLogger(), flushIntervalMs: 60_000 });
    writer.failing = true;
    batcher.record(entry());
    await batcher.flush();
    expect(writer.batches).toHaveLength(0);
    writer.failing = false;
    batcher.record(entry());
    await batcher.close();
    expect(writer.batches).toEqual([[expect.objectContaining({ promptTokens: 4, completionTokens: 6, requests: 2 })]]);
  });

  it('drops new rows beyond its bound while the store cannot be written, and keeps serving', async () => {
    const writer = new Writer();
    writer.failing = true;
    const batcher = new UsageBatcher({ writer, logger: silentLogger(), maxPendingRows: 2, flushIntervalMs: 60_000 });
    for (const model of ['a', 'b', 'c', 'd']) batcher.record(entry({ model }));
    batcher.record(entry({ model: 'a' }));
    writer.failing = false;
    await batcher.close();
    expect(writer.batches[0].map((d) => [d.model, d.requests])).toEqual([
      ['a', 2],
      ['b', 1],
    ]);
  });
});
