import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AGENT_TOKEN_PREFIX, API_KEY_PREFIX, secretHint } from './secrets';
import { StoreConflictError, StoreNotFoundError, type Store, type Tunnel } from './store';
import { describeLifecycleContract } from './store-contract-lifecycle';
import { describeCountsContract } from './store-contract-counts';
import { describeSessionContract } from './store-contract-sessions';
import { describeUsageContract } from './store-contract-usage';
import { ISO_UTC, sleep } from './store-contract-helpers';

/** A fresh, empty store for one test, and how to dispose of it. */
export interface StoreHarness {
  store: Store;
  cleanup(): Promise<void>;
}

const SECRET_BODY = '[A-Za-z0-9_-]{43}';
const API_KEY_SHAPE = new RegExp(`^${API_KEY_PREFIX}${SECRET_BODY}$`);
const AGENT_TOKEN_SHAPE = new RegExp(`^${AGENT_TOKEN_PREFIX}${SECRET_BODY}$`);

/** Flips the last character of a secret, keeping it well-formed but wrong. */
function tamper(secret: string): string {
  const last = secret.at(-1) === 'A' ? 'B' : 'A';
  return secret.slice(0, -1) + last;
}

/**
 * The behaviour every {@link Store} backend must have. Each backend's spec calls this with a
 * factory; the suite only uses the public interface, so it runs unchanged against PostgreSQL.
 */
export function describeStoreContract(name: string, makeStore: () => Promise<StoreHarness>): void {
  describe(`Store contract: ${name}`, () => {
    let harness: StoreHarness;
    let store: Store;

    beforeEach(async () => {
      harness = await makeStore();
      store = harness.store;
    });

    afterEach(async () => {
      await harness.cleanup();
    });

    describe('users', () => {
      it('creates a user and finds it by id and by name', async () => {
        const user = await store.createUser('alice');
        expect(user.id).toMatch(/^u-[a-z2-7]{12}$/);
        expect(user.name).toBe('alice');
        expect(user.createdAt).toMatch(ISO_UTC);
        expect(await store.getUser(user.id)).toEqual(user);
        expect(await store.getUserByName('alice')).toEqual(user);
      });

      it('returns null for unknown users', async () => {
        await store.createUser('alice');
        expect(await store.getUser('u-aaaaaaaaaaaa')).toBeNull();
        expect(await store.getUserByName('bob')).toBeNull();
      });

      it('refuses a second user with the same name, naming it', async () => {
        const first = await store.createUser('alice');
        const err = await store.createUser('alice').catch((e: unknown) => e);
        expect(err).toBeInstanceOf(StoreConflictError);
        expect((err as Error).message).toContain('"alice"');
        expect(await store.getUserByName('alice')).toEqual(first);
      });

      it('lists every user in creation order', async () => {
        expect(await store.listUsers()).toEqual([]);
        const created = [];
        for (const name of ['carol', 'alice', 'bob']) {
          created.push(await store.createUser(name));
          await sleep(3); // distinct timestamps, so the order is decided by createdAt
        }
        expect(await store.listUsers()).toEqual(created);
      });
    });

    describe('API keys', () => {
      it('returns the key once, in the documented shape, with a hint that does not reveal it', async () => {
        const user = await store.createUser('alice');
        const { info, apiKey } = await store.createApiKey(user.id);
        expect(apiKey).toMatch(API_KEY_SHAPE);
        expect(info.id).toMatch(/^k-[a-z2-7]{12}$/);
        expect(info.userId).toBe(user.id);
        expect(info.hint).toBe(secretHint(apiKey));
        expect(info.createdAt).toMatch(ISO_UTC);

        const listed = await store.listApiKeys(user.id);
        expect(listed).toEqual([info]);
        expect(JSON.stringify(listed)).not.toContain(apiKey.slice(12));
      });

      it('gives every key a different secret', async () => {
        const user = await store.createUser('alice');
        const a = await store.createApiKey(user.id);
        const b = await store.createApiKey(user.id);
        expect(a.apiKey).not.toBe(b.apiKey);
        expect(a.info.id).not.toBe(b.info.id);
      });

      it('authenticates a key as its owner', async () => {
        const alice = await store.createUser('alice');
        const bob = await store.createUser('bob');
        const { apiKey } = await store.createApiKey(alice.id);
        const bobKey = (await store.createApiKey(bob.id)).apiKey;
        expect(await store.authenticateApiKey(apiKey)).toEqual(alice);
        expect(await store.authenticateApiKey(bobKey)).toEqual(bob);
      });

      it('refuses a revoked key and stops listing it', async () => {
        const user = await store.createUser('alice');
        const revoked = await store.createApiKey(user.id);
        const kept = await store.createApiKey(user.id);

        expect(await store.revokeApiKey(user.id, revoked.info.id)).toBe(true);
        expect(await store.authenticateApiKey(revoked.apiKey)).toBeNull();
        expect(await store.authenticateApiKey(kept.apiKey)).toEqual(user);
        expect(await store.listApiKeys(user.id)).toEqual([kept.info]);
        expect(await store.revokeApiKey(user.id, revoked.info.id)).toBe(false);
      });

      it("does not let a user revoke another user's key", async () => {
        const alice = await store.createUser('alice');
        const bob = await store.createUser('bob');
        const { info, apiKey } = await store.createApiKey(alice.id);
        expect(await store.revokeApiKey(bob.id, info.id)).toBe(false);
        expect(await store.revokeAllApiKeys(bob.id)).toBe(0);
        expect(await store.authenticateApiKey(apiKey)).toEqual(alice);
      });

      it('revokes all keys of one user and counts them', async () => {
        const alice = await store.createUser('alice');
        const bob = await store.createUser('bob');
        const a1 = await store.createApiKey(alice.id);
        const a2 = await store.createApiKey(alice.id);
        const b1 = await store.createApiKey(bob.id);
        await store.revokeApiKey(alice.id, a1.info.id);

        expect(await store.revokeAllApiKeys(alice.id)).toBe(1);
        expect(await store.authenticateApiKey(a2.apiKey)).toBeNull();
        expect(await store.listApiKeys(alice.id)).toEqual([]);
        expect(await store.authenticateApiKey(b1.apiKey)).toEqual(bob);
        expect(await store.revokeAllApiKeys(alice.id)).toBe(0);
      });

      it('refuses garbage, near misses and agent tokens', async () => {
        const user = await store.createUser('alice');
        const { apiKey } = await store.createApiKey(user.id);
        const { agentToken } = await store.createTunnel({ userId: user.id, name: 'gpu' });
        const bad = [
          '',
          'garbage',
          API_KEY_PREFIX,
          tamper(apiKey),
          apiKey + 'x',
          apiKey.slice(0, -1),
          ` ${apiKey}`,
          apiKey.toUpperCase(),
          apiKey.slice(API_KEY_PREFIX.length),
          agentToken,
          AGENT_TOKEN_PREFIX + apiKey.slice(API_KEY_PREFIX.length),
        ];
        for (const candidate of bad) expect(await store.authenticateApiKey(candidate), candidate).toBeNull();
        // Callers pass whatever arrived in a header; a non-string must not throw.
        expect(await store.authenticateApiKey(undefined as unknown as string)).toBeNull();
        expect(await store.authenticateApiKey(apiKey)).toEqual(user);
      });

      it('refuses a key for a user that does not exist', async () => {
        await expect(store.createApiKey('u-aaaaaaaaaaaa')).rejects.toBeInstanceOf(StoreNotFoundError);
      });
    });

    describe('tunnels', () => {
      it('creates a tunnel with the defaults', async () => {
        const user = await store.createUser('alice');
        const { tunnel, agentToken } = await store.createTunnel({ userId: user.id, name: 'gpu' });
        expect(tunnel).toEqual({
          id: expect.stringMatching(/^t-[a-z2-7]{12}$/),
          userId: user.id,
          name: 'gpu',
          remoteHost: 'localhost',
          remotePort: 8000,
          openai: true,
          state: 'started',
          sessionId: null,
          hasUpstreamKey: false,
          createdAt: expect.stringMatching(ISO_UTC),
        });
        expect(agentToken).toMatch(AGENT_TOKEN_SHAPE);
        expect(await store.getTunnel(tunnel.id)).toEqual(tunnel);
      });

      it('keeps the given remote and openai flag', async () => {
        const user = await store.createUser('alice');
        const { tunnel } = await store.createTunnel({
          userId: user.id,
          name: 'vllm',
          remoteHost: '10.0.0.7',
          remotePort: 8080,
          openai: false,
        });
        const stored = await store.getTunnel(tunnel.id);
        expect(stored).toMatchObject({ remoteHost: '10.0.0.7', remotePort: 8080, openai: false, state: 'started' });
        expect(stored).toEqual(tunnel);
      });

      it('finds a tunnel by name within its user', async () => {
        const user = await store.createUser('alice');
        const { tunnel } = await store.createTunnel({ userId: user.id, name: 'gpu' });
        expect(await store.getTunnelByName(user.id, 'gpu')).toEqual(tunnel);
        expect(await store.getTunnelByName(user.id, 'cpu')).toBeNull();
        expect(await store.getTunnelForUser(user.id, tunnel.id)).toEqual(tunnel);
        expect(await store.getTunnel('t-aaaaaaaaaaaa')).toBeNull();
      });

      it('lists tunnels in creation order', async () => {
        const user = await store.createUser('alice');
        const other = await store.createUser('bob');
        const names = ['c', 'a', 'b'];
        for (const n of names) {
          await store.createTunnel({ userId: user.id, name: n });
          await store.createTunnel({ userId: other.id, name: `other-${n}` });
          await sleep(3); // distinct timestamps, so the order is decided by createdAt
        }
        const listed = await store.listTunnels(user.id);
        expect(listed.map((t) => t.name)).toEqual(names);
        const byCreatedThenId = [...listed].sort(
          (x, y) => x.createdAt.localeCompare(y.createdAt) || x.id.localeCompare(y.id),
        );
        expect(listed).toEqual(byCreatedThenId);
        expect(await store.listTunnels('u-aaaaaaaaaaaa')).toEqual([]);
      });

      it('authenticates an agent token as its tunnel', async () => {
        const user = await store.createUser('alice');
        const a = await store.createTunnel({ userId: user.id, name: 'a' });
        const b = await store.createTunnel({ userId: user.id, name: 'b' });
        expect(a.agentToken).not.toBe(b.agentToken);
        expect(await store.authenticateAgentToken(a.agentToken)).toEqual(a.tunnel);
        expect(await store.authenticateAgentToken(b.agentToken)).toEqual(b.tunnel);
      });

      it('refuses garbage, near misses and API keys as agent tokens', async () => {
        const user = await store.createUser('alice');
        const { apiKey } = await store.createApiKey(user.id);
        const { agentToken } = await store.createTunnel({ userId: user.id, name: 'gpu' });
        const bad = [
          '',
          'garbage',
          AGENT_TOKEN_PREFIX,
          tamper(agentToken),
          agentToken + 'x',
          agentToken.slice(AGENT_TOKEN_PREFIX.length),
          apiKey,
          API_KEY_PREFIX + agentToken.slice(AGENT_TOKEN_PREFIX.length),
        ];
        for (const candidate of bad) expect(await store.authenticateAgentToken(candidate), candidate).toBeNull();
        expect(await store.authenticateAgentToken(null as unknown as string)).toBeNull();
      });

      it('still authenticates the agent of a stopped tunnel, reporting its state', async () => {
        const user = await store.createUser('alice');
        const { tunnel, agentToken } = await store.createTunnel({ userId: user.id, name: 'gpu' });
        await store.setTunnelState(user.id, tunnel.id, 'stopped');
        expect(await store.authenticateAgentToken(agentToken)).toMatchObject({ id: tunnel.id, state: 'stopped' });
      });

      it('rotating the agent token invalidates the old one at once', async () => {
        const user = await store.createUser('alice');
        const { tunnel, agentToken } = await store.createTunnel({ userId: user.id, name: 'gpu' });
        const rotated = await store.rotateAgentToken(tunnel.id);
        expect(rotated).toMatch(AGENT_TOKEN_SHAPE);
        expect(rotated).not.toBe(agentToken);
        expect(await store.authenticateAgentToken(agentToken)).toBeNull();
        expect(await store.authenticateAgentToken(rotated)).toEqual(tunnel);

        const again = await store.rotateAgentToken(tunnel.id);
        expect(await store.authenticateAgentToken(rotated)).toBeNull();
        expect(await store.authenticateAgentToken(again)).toEqual(tunnel);
      });

      it('refuses to rotate the token of a missing tunnel', async () => {
        await expect(store.rotateAgentToken('t-aaaaaaaaaaaa')).rejects.toBeInstanceOf(StoreNotFoundError);
      });

      it('changes the state and keeps it', async () => {
        const user = await store.createUser('alice');
        const { tunnel } = await store.createTunnel({ userId: user.id, name: 'gpu' });
        const stopped = await store.setTunnelState(user.id, tunnel.id, 'stopped');
        expect(stopped).toEqual({ ...tunnel, state: 'stopped' });
        expect(await store.getTunnel(tunnel.id)).toEqual(stopped);
        const started = await store.setTunnelState(user.id, tunnel.id, 'started');
        expect(started).toEqual(tunnel);
        expect(await store.setTunnelState(user.id, 't-aaaaaaaaaaaa', 'stopped')).toBeNull();
      });

      it('deleting a tunnel removes it and invalidates its agent token', async () => {
        const user = await store.createUser('alice');
        const gone = await store.createTunnel({ userId: user.id, name: 'gone' });
        const kept = await store.createTunnel({ userId: user.id, name: 'kept' });
        expect(await store.deleteTunnel(user.id, gone.tunnel.id)).toBe(true);
        expect(await store.getTunnel(gone.tunnel.id)).toBeNull();
        expect(await store.authenticateAgentToken(gone.agentToken)).toBeNull();
        expect(await store.listTunnels(user.id)).toEqual([kept.tunnel]);
        expect(await store.authenticateAgentToken(kept.agentToken)).toEqual(kept.tunnel);
        expect(await store.deleteTunnel(user.id, gone.tunnel.id)).toBe(false);
        await expect(store.rotateAgentToken(gone.tunnel.id)).rejects.toBeInstanceOf(StoreNotFoundError);
      });

      it('refuses a tunnel for a user that does not exist', async () => {
        await expect(store.createTunnel({ userId: 'u-aaaaaaaaaaaa', name: 'gpu' })).rejects.toBeInstanceOf(
          StoreNotFoundError,
        );
      });
    });

    describe('tunnel names', () => {
      it('refuses a second tunnel of the same name for one user, naming it', async () => {
        const user = await store.createUser('alice');
        const first = await store.createTunnel({ userId: user.id, name: 'gpu' });
        const err = await store.createTunnel({ userId: user.id, name: 'gpu', remotePort: 9000 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(StoreConflictError);
        expect((err as Error).message).toContain('"gpu"');
        expect(await store.listTunnels(user.id)).toEqual([first.tunnel]);
        expect(await store.authenticateAgentToken(first.agentToken)).toEqual(first.tunnel);
      });

      it('lets two users use the same tunnel name', async () => {
        const alice = await store.createUser('alice');
        const bob = await store.createUser('bob');
        const a = await store.createTunnel({ userId: alice.id, name: 'gpu' });
        const b = await store.createTunnel({ userId: bob.id, name: 'gpu' });
        expect(a.tunnel.id).not.toBe(b.tunnel.id);
        expect(await store.getTunnelByName(alice.id, 'gpu')).toEqual(a.tunnel);
        expect(await store.getTunnelByName(bob.id, 'gpu')).toEqual(b.tunnel);
      });

      it('frees the name when the tunnel is deleted', async () => {
        const user = await store.createUser('alice');
        const first = await store.createTunnel({ userId: user.id, name: 'gpu' });
        await store.deleteTunnel(user.id, first.tunnel.id);
        const second = await store.createTunnel({ userId: user.id, name: 'gpu' });
        expect(second.tunnel.id).not.toBe(first.tunnel.id);
        expect(await store.authenticateAgentToken(first.agentToken)).toBeNull();
      });
    });

    describe('isolation between users', () => {
      let aliceTunnel: Tunnel;
      let aliceToken: string;
      let bobId: string;

      beforeEach(async () => {
        const alice = await store.createUser('alice');
        bobId = (await store.createUser('bob')).id;
        ({ tunnel: aliceTunnel, agentToken: aliceToken } = await store.createTunnel({ userId: alice.id, name: 'gpu' }));
      });

      it("hides another user's tunnel as if it did not exist", async () => {
        expect(await store.getTunnelForUser(bobId, aliceTunnel.id)).toBeNull();
        expect(await store.getTunnelByName(bobId, 'gpu')).toBeNull();
        expect(await store.listTunnels(bobId)).toEqual([]);
      });

      it("does not let a user change another user's tunnel", async () => {
        expect(await store.setTunnelState(bobId, aliceTunnel.id, 'stopped')).toBeNull();
        expect(await store.getTunnel(aliceTunnel.id)).toEqual(aliceTunnel);
      });

      it("does not let a user delete another user's tunnel", async () => {
        expect(await store.deleteTunnel(bobId, aliceTunnel.id)).toBe(false);
        expect(await store.getTunnel(aliceTunnel.id)).toEqual(aliceTunnel);
        expect(await store.authenticateAgentToken(aliceToken)).toEqual(aliceTunnel);
      });
    });

    describeSessionContract(() => store);
    describeLifecycleContract(() => store);
    describeUsageContract(() => store);
    describeCountsContract(() => store);
  });
}
