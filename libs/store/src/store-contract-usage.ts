import { beforeEach, describe, expect, it } from 'vitest';
import type { Store } from './store';
import { type UsageDelta, hourOf } from './usage';

const H0 = '2026-03-01T10:00:00.000Z';
const H1 = '2026-03-01T11:00:00.000Z';
const H2 = '2026-03-01T12:00:00.000Z';

function delta(over: Partial<UsageDelta>): UsageDelta {
  return { userId: 'u-alice', tunnelId: 't-a', tunnelName: 'gpu', model: 'm1', hour: H0, promptTokens: 0, completionTokens: 0, requests: 1, ...over };
}

/**
 * The part of the store contract behind usage accounting: hourly rows summed by upserts (also
 * within one batch), grouping, the since filter, isolation per user, and rows that outlive the
 * tunnel. Called inside `describeStoreContract`, which creates a fresh store before each test.
 */
export function describeUsageContract(getStore: () => Store): void {
  describe('usage', () => {
    let store: Store;

    beforeEach(() => {
      store = getStore();
    });

    it('sums deltas of the same user, tunnel, model and hour, across batches and within one', async () => {
      await store.addUsage([delta({ promptTokens: 10, completionTokens: 5 }), delta({ promptTokens: 1, completionTokens: 2 })]);
      await store.addUsage([delta({ promptTokens: 100, completionTokens: 50, requests: 3 })]);
      expect(await store.queryUsage({ userId: 'u-alice', groupBy: 'both' })).toEqual([
        { userId: '', tunnelId: 't-a', tunnelName: 'gpu', model: 'm1', promptTokens: 111, completionTokens: 57, requests: 5 },
      ]);
    });

    it('groups by tunnel, by model, or by both, largest total first', async () => {
      await store.addUsage([
        delta({ tunnelId: 't-a', tunnelName: 'gpu', model: 'm1', promptTokens: 10, completionTokens: 10 }),
        delta({ tunnelId: 't-a', tunnelName: 'gpu', model: 'm2', promptTokens: 1, completionTokens: 1, hour: H1 }),
        delta({ tunnelId: 't-b', tunnelName: 'cpu', model: 'm1', promptTokens: 100, completionTokens: 0 }),
      ]);
      const both = await store.queryUsage({ userId: 'u-alice', groupBy: 'both' });
      expect(both.map((r) => [r.tunnelId, r.model, r.promptTokens + r.completionTokens])).toEqual([
        ['t-b', 'm1', 100],
        ['t-a', 'm1', 20],
        ['t-a', 'm2', 2],
      ]);
      const byTunnel = await store.queryUsage({ userId: 'u-alice', groupBy: 'tunnel' });
      expect(byTunnel).toEqual([
        { userId: '', tunnelId: 't-b', tunnelName: 'cpu', model: '', promptTokens: 100, completionTokens: 0, requests: 1 },
        { userId: '', tunnelId: 't-a', tunnelName: 'gpu', model: '', promptTokens: 11, completionTokens: 11, requests: 2 },
      ]);
      const byModel = await store.queryUsage({ userId: 'u-alice', groupBy: 'model' });
      expect(byModel).toEqual([
        { userId: '', tunnelId: '', tunnelName: '', model: 'm1', promptTokens: 110, completionTokens: 10, requests: 2 },
        { userId: '', tunnelId: '', tunnelName: '', model: 'm2', promptTokens: 1, completionTokens: 1, requests: 1 },
      ]);
    });

    it("shows a user only their own rows; everyone's rows carry their user", async () => {
      await store.addUsage([delta({ userId: 'u-alice', promptTokens: 5 }), delta({ userId: 'u-bob', tunnelId: 't-b', tunnelName: 'bobs', promptTokens: 7 })]);
      expect((await store.queryUsage({ userId: 'u-bob', groupBy: 'both' })).map((r) => r.tunnelId)).toEqual(['t-b']);
      expect(await store.queryUsage({ userId: 'u-carol', groupBy: 'both' })).toEqual([]);
      const all = await store.queryUsage({ groupBy: 'tunnel' });
      expect(all.map((r) => [r.userId, r.tunnelId, r.promptTokens])).toEqual([
        ['u-bob', 't-b', 7],
        ['u-alice', 't-a', 5],
      ]);
    });

    it('filters by since at hour precision: the hour holding since counts whole', async () => {
      await store.addUsage([delta({ hour: H0, promptTokens: 1 }), delta({ hour: H1, promptTokens: 10 }), delta({ hour: H2, promptTokens: 100 })]);
      const since = new Date(Date.parse(H1) + 30 * 60_000);
      expect((await store.queryUsage({ userId: 'u-alice', since, groupBy: 'both' }))[0].promptTokens).toBe(110);
      expect((await store.queryUsage({ userId: 'u-alice', since: new Date(Date.parse(H2) + 3_600_000), groupBy: 'both' }))).toEqual([]);
      expect(hourOf(since)).toBe(H1);
    });

    it("keeps a tunnel's newest name, and its usage after the tunnel is deleted", async () => {
      const alice = await store.createUser('alice');
      const { tunnel } = await store.createTunnel({ userId: alice.id, name: 'old-name' });
      await store.addUsage([delta({ userId: alice.id, tunnelId: tunnel.id, tunnelName: 'old-name', hour: H0, promptTokens: 3 })]);
      await store.addUsage([delta({ userId: alice.id, tunnelId: tunnel.id, tunnelName: 'new-name', hour: H1, promptTokens: 4 })]);
      expect(await store.deleteTunnel(alice.id, tunnel.id)).toBe(true);
      expect(await store.queryUsage({ userId: alice.id, groupBy: 'tunnel' })).toEqual([
        { userId: '', tunnelId: tunnel.id, tunnelName: 'new-name', model: '', promptTokens: 7, completionTokens: 0, requests: 2 },
      ]);
    });

    it('takes counts beyond 32 bits and an empty batch', async () => {
      await store.addUsage([]);
      await store.addUsage([delta({ promptTokens: 3_000_000_000 }), delta({ promptTokens: 3_000_000_000, hour: H1 })]);
      expect((await store.queryUsage({ userId: 'u-alice', groupBy: 'model' }))[0].promptTokens).toBe(6_000_000_000);
    });
  });
}
