import { describe, expect, it } from 'vitest';
import { CHANGE, ProviderList } from './provider-list';

const demo = (status: number, models: string[] = ['m']) => ({ id: 't-1', name: 'demo', status, healthy: status === 1, models, sessionName: 's' });

describe('ProviderList', () => {
  it('shows a snapshot at SYNCED, then applies updates at once', () => {
    const list = new ProviderList();
    list.beginSync();
    expect(list.apply({ change: CHANGE.ADDED, provider: demo(1) })).toBe(false);
    expect(list.items()).toEqual([]);
    expect(list.apply({ change: CHANGE.SYNCED })).toBe(true);
    expect(list.items()).toMatchObject([{ name: 'demo', status: 'running', models: ['m'] }]);
    // Stopped: no models reported, the last known ones stay.
    expect(list.apply({ change: CHANGE.UPDATED, provider: demo(3, []) })).toBe(true);
    expect(list.items()).toMatchObject([{ status: 'stopped', healthy: false, models: ['m'] }]);
  });

  it('replaces the list on a re-watch only when the new snapshot is complete', () => {
    const list = new ProviderList();
    list.beginSync();
    list.apply({ change: CHANGE.ADDED, provider: demo(1) });
    list.apply({ change: CHANGE.SYNCED });
    list.beginSync();
    list.apply({ change: CHANGE.ADDED, provider: { ...demo(2), id: 't-2', name: 'other' } });
    expect(list.items().map((p) => p.name)).toEqual(['demo']);
    list.apply({ change: CHANGE.SYNCED });
    expect(list.items()).toMatchObject([{ name: 'other', status: 'waiting' }]);
  });
});
