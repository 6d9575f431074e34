import { beforeEach, describe, expect, it } from 'vitest';
import { AGENT_TOKEN_PREFIX } from './secrets';
import { SETTING, type Session, type Store, type User } from './store';

const MISSING_TUNNEL = 't-aaaaaaaaaaaa';

/**
 * The part of the store contract behind token rotation by the owner, `sessions restart` (which
 * starts again exactly the tunnels the session's stop stopped) and the installation settings.
 * Called inside `describeStoreContract`, which creates a fresh store before each test.
 */
export function describeLifecycleContract(getStore: () => Store): void {
  describe('rotation, session restarts and settings', () => {
    let store: Store;
    let alice: User;
    let bob: User;

    beforeEach(async () => {
      store = getStore();
      alice = await store.createUser('alice');
      bob = await store.createUser('bob');
    });

    describe("rotating one's own agent token", () => {
      it('returns a new token and invalidates the old one at once', async () => {
        const { tunnel, agentToken } = await store.createTunnel({ userId: alice.id, name: 'gpu' });
        const rotated = await store.rotateAgentTokenForUser(alice.id, tunnel.id);
        expect(rotated).toMatch(new RegExp(`^${AGENT_TOKEN_PREFIX}[A-Za-z0-9_-]{43}$`));
        expect(await store.authenticateAgentToken(agentToken)).toBeNull();
        expect(await store.authenticateAgentToken(rotated!)).toEqual(tunnel);
      });

      it("answers another user's tunnel exactly like a missing one, and leaves its token working", async () => {
        const { tunnel, agentToken } = await store.createTunnel({ userId: alice.id, name: 'gpu' });
        expect(await store.rotateAgentTokenForUser(bob.id, tunnel.id)).toBeNull();
        expect(await store.rotateAgentTokenForUser(bob.id, MISSING_TUNNEL)).toBeNull();
        expect(await store.authenticateAgentToken(agentToken)).toEqual(tunnel);
      });
    });

    describe('tunnels stopped by their session', () => {
      let session: Session;

      beforeEach(async () => {
        session = await store.createSession(alice.id, 'train');
      });

      it('stops the started tunnels and starts exactly those again, leaving one stopped by hand stopped', async () => {
        const a = (await store.createTunnel({ userId: alice.id, name: 'a', sessionId: session.id })).tunnel;
        const b = (await store.createTunnel({ userId: alice.id, name: 'b', sessionId: session.id })).tunnel;
        const byHand = (await store.createTunnel({ userId: alice.id, name: 'by-hand', sessionId: session.id })).tunnel;
        const elsewhere = (await store.createTunnel({ userId: alice.id, name: 'elsewhere' })).tunnel;
        await store.setTunnelState(alice.id, byHand.id, 'stopped');

        const stopped = await store.stopTunnelsOfSession(alice.id, session.id);
        // Tunnels made in the same millisecond have no defined order: compare by name.
        expect(byName(stopped)).toEqual([{ ...a, state: 'stopped' }, { ...b, state: 'stopped' }]);
        expect((await store.listTunnelsOfSession(alice.id, session.id)).map((t) => t.state)).toEqual(['stopped', 'stopped', 'stopped']);
        expect(await store.getTunnel(elsewhere.id)).toEqual(elsewhere);

        const restarted = await store.restartTunnelsOfSession(alice.id, session.id);
        expect(byName(restarted)).toEqual([a, b]);
        expect(await store.getTunnel(byHand.id)).toMatchObject({ state: 'stopped' });
        // The mark is gone: a second restart starts nothing.
        expect(await store.restartTunnelsOfSession(alice.id, session.id)).toEqual([]);
      });

      it('forgets the mark when the tunnel is stopped or started by hand meanwhile', async () => {
        const kept = (await store.createTunnel({ userId: alice.id, name: 'kept', sessionId: session.id })).tunnel;
        const handled = (await store.createTunnel({ userId: alice.id, name: 'handled', sessionId: session.id })).tunnel;
        await store.stopTunnelsOfSession(alice.id, session.id);
        // The user stops it again on its own: it is now theirs to start.
        await store.setTunnelState(alice.id, handled.id, 'stopped');
        expect(await store.restartTunnelsOfSession(alice.id, session.id)).toEqual([kept]);
        expect(await store.getTunnel(handled.id)).toMatchObject({ state: 'stopped' });
      });

      it("does nothing to another user's session", async () => {
        const { tunnel } = await store.createTunnel({ userId: alice.id, name: 'gpu', sessionId: session.id });
        expect(await store.stopTunnelsOfSession(bob.id, session.id)).toEqual([]);
        expect(await store.getTunnel(tunnel.id)).toEqual(tunnel);
        await store.stopTunnelsOfSession(alice.id, session.id);
        expect(await store.restartTunnelsOfSession(bob.id, session.id)).toEqual([]);
        expect(await store.getTunnel(tunnel.id)).toMatchObject({ state: 'stopped' });
      });
    });

    describe('settings', () => {
      it('is unset until put, then holds the newest value', async () => {
        expect(await store.getSetting(SETTING.adminTokenDigest)).toBeNull();
        await store.putSetting(SETTING.adminTokenDigest, 'one');
        expect(await store.getSetting(SETTING.adminTokenDigest)).toBe('one');
        await store.putSetting(SETTING.adminTokenDigest, 'two');
        expect(await store.getSetting(SETTING.adminTokenDigest)).toBe('two');
      });

      it('writes only the first of two "if absent" puts', async () => {
        expect(await store.putSettingIfAbsent('x', 'first')).toBe(true);
        expect(await store.putSettingIfAbsent('x', 'second')).toBe(false);
        expect(await store.getSetting('x')).toBe('first');
      });
    });
  });
}

function byName<T extends { name: string }>(tunnels: T[]): T[] {
  return [...tunnels].sort((x, y) => x.name.localeCompare(y.name));
}
