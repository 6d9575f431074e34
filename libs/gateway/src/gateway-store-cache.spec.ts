import { describe, expect, it } from 'vitest';
import { ChangeFeed } from '@st/events';
import type { Session, Tunnel, User } from '@st/store';
import type { GatewayStore } from './caller-auth';
import { GatewayStoreCache } from './gateway-store-cache';

const user: User = { id: 'u-1', name: 'a', createdAt: '' };
const tunnel: Tunnel = {
  id: 't-1', userId: 'u-1', name: 't', remoteHost: 'localhost', remotePort: 8000, openai: true,
  state: 'started', sessionId: 's-1', hasUpstreamKey: false, createdAt: '',
};
const session: Session = { id: 's-1', userId: 'u-1', name: 's', state: 'running', createdAt: '', updatedAt: '' };

function fakeStore() {
  const calls = { key: 0, tunnel: 0, session: 0 };
  const state = { user: user as User | null, tunnel: tunnel as Tunnel | null };
  const store: GatewayStore = {
    authenticateApiKey: async () => (calls.key++, state.user),
    getTunnelForUser: async (userId) => (calls.tunnel++, userId === 'u-1' ? state.tunnel : null),
    getSession: async () => (calls.session++, session),
    getTunnelByName: async () => null,
    listTunnels: async () => [],
  };
  return { store, calls, state };
}

describe('GatewayStoreCache', () => {
  it('answers repeated lookups from memory, per user and tunnel', async () => {
    const { store, calls } = fakeStore();
    const cache = new GatewayStoreCache(store, new ChangeFeed());
    for (let i = 0; i < 3; i++) {
      expect(await cache.authenticateApiKey('k')).toEqual(user);
      expect(await cache.getTunnelForUser('u-1', 't-1')).toEqual(tunnel);
    }
    expect(calls).toMatchObject({ key: 1, tunnel: 1 });
    // Another user's lookup of the same id is its own question, answered by the store.
    expect(await cache.getTunnelForUser('u-2', 't-1')).toBeNull();
    expect(calls.tunnel).toBe(2);
  });

  it('forgets at once what the change feed says has changed', async () => {
    const { store, calls, state } = fakeStore();
    const feed = new ChangeFeed();
    const cache = new GatewayStoreCache(store, feed);
    await cache.authenticateApiKey('k');
    await cache.getTunnelForUser('u-1', 't-1');
    state.user = null;
    state.tunnel = { ...tunnel, state: 'stopped' };
    feed.publish({ kind: 'user', userId: 'u-1', reason: 'keys_revoked' });
    feed.publish({ kind: 'session', userId: 'u-1', sessionId: 's-1', reason: 'stopped' });
    expect(await cache.authenticateApiKey('k')).toBeNull();
    expect((await cache.getTunnelForUser('u-1', 't-1'))?.state).toBe('stopped');
    state.tunnel = null;
    feed.publish({ kind: 'tunnel', userId: 'u-1', tunnelId: 't-1', reason: 'deleted' });
    expect(await cache.getTunnelForUser('u-1', 't-1')).toBeNull();
    expect(calls.key).toBe(2);
  });

  it('never caches a miss and expires entries without a feed', async () => {
    const { store, calls, state } = fakeStore();
    let now = 0;
    const cache = new GatewayStoreCache(store, undefined, () => now);
    state.user = null;
    expect(await cache.authenticateApiKey('k')).toBeNull();
    state.user = user;
    expect(await cache.authenticateApiKey('k')).toEqual(user);
    now += 1_000;
    await cache.authenticateApiKey('k');
    expect(calls.key).toBe(2);
    now += 5_000;
    await cache.authenticateApiKey('k');
    expect(calls.key).toBe(3);
  });
});
