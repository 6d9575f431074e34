import { beforeEach, describe, expect, it } from 'vitest';
import { StoreConflictError, StoreNotFoundError, type Session, type Store, type User } from './store';
import { ISO_UTC, sleep } from './store-contract-helpers';

const MISSING_SESSION = 's-aaaaaaaaaaaa';
// Stands in for what the caller's secret box would produce; the store must treat it as opaque.
const CIPHERTEXT = 'v1.bm9uY2U.Y2lwaGVydGV4dCBvZiBzay11cHN0cmVhbQ';

/**
 * The part of the store contract about compute sessions and the tunnel settings that came with
 * them (session membership, the write-only upstream key). Called inside `describeStoreContract`,
 * which creates a fresh store before each test.
 */
export function describeSessionContract(getStore: () => Store): void {
  describe('sessions and tunnel settings', () => {
    let store: Store;
    let alice: User;

    beforeEach(async () => {
      store = getStore();
      alice = await store.createUser('alice');
    });

    describe('sessions', () => {
      it('creates a running session and finds it', async () => {
        const session = await store.createSession(alice.id, 'train');
        expect(session).toEqual({
          id: expect.stringMatching(/^s-[a-z2-7]{12}$/),
          userId: alice.id,
          name: 'train',
          state: 'running',
          createdAt: expect.stringMatching(ISO_UTC),
          updatedAt: session.createdAt,
        });
        expect(await store.getSession(session.id)).toEqual(session);
        expect(await store.getSessionForUser(alice.id, session.id)).toEqual(session);
        expect(await store.listSessions(alice.id)).toEqual([session]);
      });

      it('returns null for unknown sessions', async () => {
        expect(await store.getSession(MISSING_SESSION)).toBeNull();
        expect(await store.getSessionForUser(alice.id, MISSING_SESSION)).toBeNull();
        expect(await store.setSessionState(alice.id, MISSING_SESSION, 'stopped')).toBeNull();
        expect(await store.listTunnelsOfSession(alice.id, MISSING_SESSION)).toEqual([]);
      });

      it('refuses a second session of the same name for one user, naming it', async () => {
        const first = await store.createSession(alice.id, 'train');
        const err = await store.createSession(alice.id, 'train').catch((e: unknown) => e);
        expect(err).toBeInstanceOf(StoreConflictError);
        expect((err as Error).message).toContain('"train"');
        expect(await store.listSessions(alice.id)).toEqual([first]);
      });

      it('lets two users use the same session name', async () => {
        const bob = await store.createUser('bob');
        const a = await store.createSession(alice.id, 'train');
        const b = await store.createSession(bob.id, 'train');
        expect(a.id).not.toBe(b.id);
        expect(await store.listSessions(bob.id)).toEqual([b]);
      });

      it('refuses a session for a user that does not exist', async () => {
        await expect(store.createSession('u-aaaaaaaaaaaa', 'train')).rejects.toBeInstanceOf(StoreNotFoundError);
      });

      it("lists a user's sessions in creation order", async () => {
        const bob = await store.createUser('bob');
        const names = ['c', 'a', 'b'];
        for (const n of names) {
          await store.createSession(alice.id, n);
          await store.createSession(bob.id, `bob-${n}`);
          await sleep(3); // distinct timestamps, so the order is decided by createdAt
        }
        const listed = await store.listSessions(alice.id);
        expect(listed.map((s) => s.name)).toEqual(names);
        expect(listed.every((s) => s.userId === alice.id)).toBe(true);
        expect(await store.listSessions('u-aaaaaaaaaaaa')).toEqual([]);
      });

      it('stops and restarts a session, bumping updatedAt and keeping createdAt', async () => {
        const session = await store.createSession(alice.id, 'train');
        await sleep(3);
        const stopped = await store.setSessionState(alice.id, session.id, 'stopped');
        expect(stopped).toEqual({ ...session, state: 'stopped', updatedAt: expect.stringMatching(ISO_UTC) });
        expect(stopped!.updatedAt > session.updatedAt).toBe(true);
        expect(await store.getSession(session.id)).toEqual(stopped);

        await sleep(3);
        const running = await store.setSessionState(alice.id, session.id, 'running');
        expect(running).toMatchObject({ state: 'running', createdAt: session.createdAt });
        expect(running!.updatedAt > stopped!.updatedAt).toBe(true);
        expect(await store.listSessions(alice.id)).toEqual([running]);
      });

      it("leaves the session's tunnels as they are when its state changes", async () => {
        const session = await store.createSession(alice.id, 'train');
        const { tunnel } = await store.createTunnel({ userId: alice.id, name: 'gpu', sessionId: session.id });
        await store.setSessionState(alice.id, session.id, 'stopped');
        expect(await store.getTunnel(tunnel.id)).toEqual(tunnel);
      });
    });

    describe('tunnels in sessions', () => {
      let session: Session;

      beforeEach(async () => {
        session = await store.createSession(alice.id, 'train');
      });

      it('creates a tunnel in a session and lists it with that session', async () => {
        const other = await store.createSession(alice.id, 'eval');
        const a = await store.createTunnel({ userId: alice.id, name: 'a', sessionId: session.id });
        await sleep(3);
        const elsewhere = await store.createTunnel({ userId: alice.id, name: 'elsewhere', sessionId: other.id });
        await sleep(3);
        const loose = await store.createTunnel({ userId: alice.id, name: 'loose' });
        await sleep(3);
        const b = await store.createTunnel({ userId: alice.id, name: 'b', sessionId: session.id });

        expect(a.tunnel.sessionId).toBe(session.id);
        expect(await store.getTunnel(a.tunnel.id)).toEqual(a.tunnel);
        expect(await store.authenticateAgentToken(a.agentToken)).toEqual(a.tunnel);
        expect(await store.listTunnelsOfSession(alice.id, session.id)).toEqual([a.tunnel, b.tunnel]);
        expect(await store.listTunnelsOfSession(alice.id, other.id)).toEqual([elsewhere.tunnel]);
        expect(loose.tunnel.sessionId).toBeNull();
        expect(await store.listTunnels(alice.id)).toEqual([a.tunnel, elsewhere.tunnel, loose.tunnel, b.tunnel]);
      });

      it('refuses a tunnel on a session that does not exist, creating nothing', async () => {
        const err = await store
          .createTunnel({ userId: alice.id, name: 'gpu', sessionId: MISSING_SESSION })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(StoreNotFoundError);
        expect((err as Error).message).toContain(MISSING_SESSION);
        expect(await store.listTunnels(alice.id)).toEqual([]);
      });

      it('keeps tunnel names unique per user across sessions', async () => {
        const other = await store.createSession(alice.id, 'eval');
        await store.createTunnel({ userId: alice.id, name: 'gpu', sessionId: session.id });
        await expect(
          store.createTunnel({ userId: alice.id, name: 'gpu', sessionId: other.id }),
        ).rejects.toBeInstanceOf(StoreConflictError);
        expect(await store.listTunnelsOfSession(alice.id, other.id)).toEqual([]);
      });

      it('stores the upstream key ciphertext as given and only reports that there is one', async () => {
        const { tunnel, agentToken } = await store.createTunnel({
          userId: alice.id,
          name: 'gpu',
          sessionId: session.id,
          upstreamKeyCiphertext: CIPHERTEXT,
        });
        expect(tunnel.hasUpstreamKey).toBe(true);
        expect(await store.getUpstreamKeyCiphertext(tunnel.id)).toBe(CIPHERTEXT);

        const reads = [
          await store.getTunnel(tunnel.id),
          await store.getTunnelForUser(alice.id, tunnel.id),
          await store.getTunnelByName(alice.id, 'gpu'),
          await store.authenticateAgentToken(agentToken),
          await store.setTunnelState(alice.id, tunnel.id, 'started'),
          ...(await store.listTunnels(alice.id)),
          ...(await store.listTunnelsOfSession(alice.id, session.id)),
        ];
        for (const read of reads) expect(read).toEqual(tunnel);
        // Write-only: no normal read carries the ciphertext, not even in a field nobody asked for.
        expect(JSON.stringify(reads)).not.toContain(CIPHERTEXT);
      });

      it('keeps the key through token rotation and state changes, and drops it with the tunnel', async () => {
        const { tunnel } = await store.createTunnel({ userId: alice.id, name: 'gpu', upstreamKeyCiphertext: CIPHERTEXT });
        const agentToken = await store.rotateAgentToken(tunnel.id);
        await store.setTunnelState(alice.id, tunnel.id, 'stopped');
        expect(await store.authenticateAgentToken(agentToken)).toEqual({ ...tunnel, state: 'stopped' });
        expect(await store.getUpstreamKeyCiphertext(tunnel.id)).toBe(CIPHERTEXT);
        await store.deleteTunnel(alice.id, tunnel.id);
        expect(await store.getUpstreamKeyCiphertext(tunnel.id)).toBeNull();
      });

      it('has no upstream key when none or an empty one is given', async () => {
        const none = await store.createTunnel({ userId: alice.id, name: 'none', sessionId: session.id });
        const empty = await store.createTunnel({ userId: alice.id, name: 'empty', upstreamKeyCiphertext: '' });
        for (const { tunnel } of [none, empty]) {
          expect(tunnel.hasUpstreamKey).toBe(false);
          expect(await store.getTunnel(tunnel.id)).toEqual(tunnel);
          expect(await store.getUpstreamKeyCiphertext(tunnel.id)).toBeNull();
        }
        expect(await store.getUpstreamKeyCiphertext('t-aaaaaaaaaaaa')).toBeNull();
      });
    });

    describe('isolation of sessions between users', () => {
      let bob: User;
      let session: Session;

      beforeEach(async () => {
        bob = await store.createUser('bob');
        session = await store.createSession(alice.id, 'train');
      });

      it("hides another user's session as if it did not exist", async () => {
        expect(await store.getSessionForUser(bob.id, session.id)).toBeNull();
        expect(await store.listSessions(bob.id)).toEqual([]);
        await store.createTunnel({ userId: alice.id, name: 'gpu', sessionId: session.id });
        expect(await store.listTunnelsOfSession(bob.id, session.id)).toEqual([]);
      });

      it("does not let a user stop another user's session", async () => {
        expect(await store.setSessionState(bob.id, session.id, 'stopped')).toBeNull();
        expect(await store.getSession(session.id)).toEqual(session);
      });

      it("does not let a user attach a tunnel to another user's session, nor learn that it exists", async () => {
        const onAlices = await store
          .createTunnel({ userId: bob.id, name: 'sneaky', sessionId: session.id })
          .catch((e: unknown) => e);
        const onMissing = await store
          .createTunnel({ userId: bob.id, name: 'sneaky', sessionId: MISSING_SESSION })
          .catch((e: unknown) => e);
        expect(onAlices).toBeInstanceOf(StoreNotFoundError);
        // Word for word the answer for an id that does not exist.
        expect((onAlices as Error).message.replace(session.id, '<id>')).toBe(
          (onMissing as Error).message.replace(MISSING_SESSION, '<id>'),
        );
        expect(await store.listTunnels(bob.id)).toEqual([]);
        expect(await store.listTunnelsOfSession(alice.id, session.id)).toEqual([]);
        // The name was not taken by the failed attempt.
        await store.createTunnel({ userId: bob.id, name: 'sneaky' });
      });
    });
  });
}
