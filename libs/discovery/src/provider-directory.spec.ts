import { describe, expect, it } from 'vitest';
import { ChangeFeed } from '@st/events';
import { silentLogger } from '@st/logging';
import { ProviderChange, TunnelStatus } from '@st/proto';
import type { Store, Tunnel } from '@st/store';
import { type ProviderEvent, ProviderDirectory } from './provider-directory';

const tunnel: Tunnel = {
  id: 'tun_1',
  userId: 'usr_1',
  name: 'gpu',
  remoteHost: 'localhost',
  remotePort: 8000,
  openai: true,
  state: 'started',
  sessionId: null,
  hasUpstreamKey: false,
  createdAt: new Date(0).toISOString(),
};

describe('ProviderDirectory watch', () => {
  it('recomputes a tunnel once for a burst of its changes, and reports the newest state', async () => {
    let reads = 0;
    const store = {
      listTunnels: async () => [tunnel],
      getTunnelForUser: async () => {
        reads++;
        return tunnel;
      },
      getSession: async () => null,
    } as unknown as Store;
    let models = ['a'];
    const runtime = { viewOf: () => Promise.resolve({ connected: true, health: { healthy: true, models, error: '', checkedAt: new Date(0) }, connections: [] }) };
    const feed = new ChangeFeed();
    const directory = new ProviderDirectory({ store, runtime, feed, publicUrl: 'http://gw', logger: silentLogger() });
    const events: ProviderEvent[] = [];
    const watch = directory.watch('usr_1', (e) => events.push(e));
    while (!events.some((e) => e.change === ProviderChange.PROVIDER_CHANGE_SYNCED)) await new Promise((r) => setImmediate(r));
    // 1,000 health reports in one turn, each changing the model list.
    for (let i = 0; i < 1_000; i++) {
      models = [`m${i}`];
      feed.publish({ kind: 'tunnel', userId: 'usr_1', tunnelId: 'tun_1', reason: 'health' });
    }
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    watch.close();
    expect(reads).toBe(1);
    expect(events.map((e) => ProviderChange[e.change])).toEqual(['PROVIDER_CHANGE_ADDED', 'PROVIDER_CHANGE_SYNCED', 'PROVIDER_CHANGE_UPDATED']);
    expect(events.at(-1)?.provider?.models).toEqual(['m999']);
  });
});

describe('ProviderDirectory watch after a change feed reconnect', () => {
  /** A store of mutable tunnels, a runtime of mutable views, and a resync trigger, as after a partition. */
  function partitionedWorld() {
    const tunnels = new Map<string, Tunnel>([
      ['tun_1', { ...tunnel, id: 'tun_1', name: 'alpha' }],
      ['tun_2', { ...tunnel, id: 'tun_2', name: 'beta' }],
    ]);
    const store = {
      listTunnels: async () => [...tunnels.values()],
      getTunnelForUser: async (_user: string, id: string) => tunnels.get(id) ?? null,
      getSession: async () => null,
    } as unknown as Store;
    const connected = new Set<string>();
    const runtime = { viewOf: (id: string) => Promise.resolve({ connected: connected.has(id), health: undefined, connections: [] }) };
    const resyncListeners = new Set<() => void>();
    const onResync = (listener: () => void) => {
      resyncListeners.add(listener);
      return () => resyncListeners.delete(listener);
    };
    const directory = new ProviderDirectory({ store, runtime, feed: new ChangeFeed(), publicUrl: 'http://gw', logger: silentLogger(), onResync });
    return { tunnels, connected, directory, resyncListeners, resync: () => resyncListeners.forEach((l) => l()) };
  }

  async function settle(): Promise<void> {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  }

  const summary = (events: ProviderEvent[]) => events.map((e) => `${ProviderChange[e.change].replace('PROVIDER_CHANGE_', '')} ${e.provider?.name ?? ''}`.trim());

  it('emits what changed unheard: an agent that came, a tunnel deleted, a tunnel created; nothing for the unchanged', async () => {
    const world = partitionedWorld();
    const events: ProviderEvent[] = [];
    const watch = world.directory.watch('usr_1', (e) => events.push(e));
    await settle();
    expect(summary(events)).toEqual(['ADDED alpha', 'ADDED beta', 'SYNCED']);
    events.length = 0;

    // Changes made while the feed could not deliver them: no event reached the watcher.
    world.connected.add('tun_1');
    world.tunnels.delete('tun_2');
    world.tunnels.set('tun_3', { ...tunnel, id: 'tun_3', name: 'gamma' });
    await settle();
    expect(events).toEqual([]);

    world.resync();
    await settle();
    expect(summary(events)).toEqual(['REMOVED beta', 'UPDATED alpha', 'ADDED gamma']);
    expect(events[1].provider?.status).toBe(TunnelStatus.TUNNEL_STATUS_RUNNING);

    // A second reconnect with nothing new tells the watcher nothing.
    events.length = 0;
    world.resync();
    await settle();
    expect(events).toEqual([]);
    watch.close();
    expect(world.resyncListeners.size).toBe(0);
  });

  it('folds a burst of reconnects into one recomputation', async () => {
    const world = partitionedWorld();
    let lists = 0;
    const list = world.directory.list.bind(world.directory);
    world.directory.list = (userId: string) => {
      lists++;
      return list(userId);
    };
    const events: ProviderEvent[] = [];
    const watch = world.directory.watch('usr_1', (e) => events.push(e));
    await settle();
    world.connected.add('tun_2');
    for (let i = 0; i < 50; i++) world.resync();
    await settle();
    watch.close();
    expect(lists).toBe(2); // the snapshot, then one resync
    expect(summary(events).slice(-1)).toEqual(['UPDATED beta']);
  });
});
