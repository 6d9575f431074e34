import { beforeEach, describe, expect, it } from 'vitest';
import type { Store, User } from './store';

/**
 * The part of the store contract behind the tunnels-by-status metric: every user's tunnels
 * counted, a stopped session stopping its tunnels. Called inside `describeStoreContract`.
 */
export function describeCountsContract(getStore: () => Store): void {
  describe('counting tunnels', () => {
    let store: Store;
    let alice: User;
    let bob: User;

    beforeEach(async () => {
      store = getStore();
      alice = await store.createUser('alice');
      bob = await store.createUser('bob');
    });

    it('is zero on an empty store', async () => {
      expect(await store.countTunnels()).toEqual({ started: 0, stopped: 0 });
    });

    it("counts every user's tunnels, stopped by hand or by a stopped session", async () => {
      const session = await store.createSession(alice.id, 'gpu');
      await store.createTunnel({ userId: alice.id, name: 'a', sessionId: session.id });
      await store.createTunnel({ userId: alice.id, name: 'b' });
      const byHand = (await store.createTunnel({ userId: bob.id, name: 'c' })).tunnel;
      await store.setTunnelState(bob.id, byHand.id, 'stopped');
      expect(await store.countTunnels()).toEqual({ started: 2, stopped: 1 });
      // The session stopped without stopping its tunnel: the tunnel's status is stopped all the same.
      await store.setSessionState(alice.id, session.id, 'stopped');
      expect(await store.countTunnels()).toEqual({ started: 1, stopped: 2 });
    });
  });
}
