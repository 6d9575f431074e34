import { describe, expect, it } from 'vitest';
import type { PresenceEntry } from '@st/live-state';
import { silentLogger } from '@st/logging';
import { waitUntil } from '@st/testing';
import type { AgentSession } from './agent-session';
import { PresencePublisher } from './presence-publisher';
import type { StreamDirectory } from './stream-directory';

/** A directory whose every call waits until the test releases it, recording the order of arrival and completion. */
function slowDirectory() {
  const log: string[] = [];
  const pending: (() => void)[] = [];
  const call = (what: string, fail = false) =>
    new Promise<never>((resolve, reject) => {
      log.push(`start ${what}`);
      pending.push(() => {
        log.push(`done ${what}`);
        if (fail) reject(new Error('redis down'));
        else resolve(undefined as never);
      });
    });
  let failing = false;
  const directory: StreamDirectory = {
    put: (e: PresenceEntry) => call(`put ${e.streamId} ${e.brokerId}`, failing),
    update: (_b, _t, streamId, patch) => call(`update ${streamId} ${JSON.stringify(patch)}`, failing),
    remove: (_b, _t, streamId) => call(`remove ${streamId}`, failing),
    clearBroker: (brokerId) => call(`clear ${brokerId}`, failing),
    announceBroker: (brokerId) => call(`announce ${brokerId}`, failing),
    withdrawBroker: (brokerId) => call(`withdraw ${brokerId}`, failing),
    liveBrokerCount: 1,
  };
  return {
    directory,
    log,
    fail: (on: boolean) => (failing = on),
    /** Lets the oldest waiting call finish. */
    release: async () => {
      pending.shift()?.();
      for (let i = 0; i < 5; i++) await Promise.resolve();
    },
  };
}

const session = (id: string) =>
  ({ tunnel: { id: 'tun' }, connectionId: id, agentInstanceId: 'a', connectionEpoch: 1, since: new Date(0), load: 0, isDraining: false, health: undefined }) as unknown as AgentSession;

describe('PresencePublisher', () => {
  it('re-publishes a stream’s open-exchange count once it changed, and only then (gateways rank streams by it)', async () => {
    const d = slowDirectory();
    const held = [session('s1'), session('s2')];
    const p = new PresencePublisher(d.directory, silentLogger(), () => held);
    void p.advertise({ brokerId: 'b1', advertiseAddress: 'h:1' });
    await d.release(); // clear
    await d.release(); // announce
    for (const s of held) void p.put(s);
    await d.release();
    await d.release();
    (held[0] as { load: number }).load = 3;
    p.publishLoads();
    p.publishLoads(); // unchanged since: nothing more
    await waitUntil('the update to reach the directory', () => d.log.includes('start update s1 {"load":3}'));
    await d.release();
    expect(d.log.filter((l) => l.startsWith('start update'))).toEqual(['start update s1 {"load":3}']);
    void p.withdraw(); // stops the timer
    await d.release();
  });

  it('writes nothing before the broker is advertised and cleared, then one stream’s writes in order', async () => {
    const d = slowDirectory();
    const p = new PresencePublisher(d.directory, silentLogger());
    const s = session('s1');
    const done: string[] = [];
    void p.put(s)?.then(() => done.push('put'));
    void p.update(s, { draining: true })?.then(() => done.push('update'));
    void p.remove(s)?.then(() => done.push('remove'));
    await Promise.resolve();
    expect(d.log).toEqual([]); // identity unknown yet

    void p.advertise({ brokerId: 'b1', advertiseAddress: 'h:1' });
    await d.release(); // clear
    await d.release(); // announce
    expect(d.log).toEqual(['start clear b1', 'done clear b1', 'start announce b1', 'done announce b1', 'start put s1 b1']);
    await d.release();
    await d.release();
    await d.release();
    expect(d.log.slice(5)).toEqual(['done put s1 b1', 'start update s1 {"draining":true}', 'done update s1 {"draining":true}', 'start remove s1', 'done remove s1']);
    expect(done).toEqual(['put', 'update', 'remove']);
  });

  it('resolves (never rejects) when the directory fails, so the broker announces the change anyway', async () => {
    const d = slowDirectory();
    const p = new PresencePublisher(d.directory, silentLogger());
    void p.advertise({ brokerId: 'b1', advertiseAddress: 'h:1' });
    await d.release();
    await d.release();
    d.fail(true);
    const put = p.put(session('s1'));
    await waitUntil('the put to reach the directory', () => d.log.includes('start put s1 b1'));
    await d.release();
    await expect(put).resolves.toBeUndefined();
  });

  it('without a directory returns nothing to wait for: one process acts at once', () => {
    const p = new PresencePublisher(undefined, silentLogger());
    expect(p.put(session('s1'))).toBeUndefined();
    expect(p.liveBrokers).toBe(1);
  });
});
