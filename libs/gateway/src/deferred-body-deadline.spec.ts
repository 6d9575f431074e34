import { describe, expect, it } from 'vitest';
import { TunnelError } from '@st/tunnel-protocol';
import type { BodyDeadline } from './body-deadline';
import { DeferredBodyDeadline } from './deferred-body-deadline';

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

function fakeDeadline() {
  const seen = { bytes: 0, stopped: false, listener: undefined as ((e: TunnelError) => void) | undefined };
  const deadline = {
    bytes: (n: number) => (seen.bytes += n),
    stop: () => (seen.stopped = true),
    onExpire: (l: (e: TunnelError) => void) => (seen.listener = l),
  } as unknown as BodyDeadline;
  return { deadline, seen };
}

describe('DeferredBodyDeadline', () => {
  it('starts no deadline for a body that ends in the turn it was asked for', async () => {
    let started = 0;
    const watch = new DeferredBodyDeadline(() => {
      started++;
      return fakeDeadline().deadline;
    });
    watch.onExpire(() => undefined);
    watch.bytes(120);
    watch.stop();
    await nextTurn();
    expect(started).toBe(0);
  });

  it('starts the deadline a turn later for a body still missing, with the bytes and the listener it was given', async () => {
    const { deadline, seen } = fakeDeadline();
    const watch = new DeferredBodyDeadline(() => deadline);
    const expired: TunnelError[] = [];
    watch.onExpire((e) => expired.push(e));
    watch.bytes(10);
    await nextTurn();
    watch.bytes(5);
    expect(seen.bytes).toBe(15);
    seen.listener?.(new TunnelError('request_timeout', 'stalled'));
    expect(expired.map((e) => e.kind)).toEqual(['request_timeout']);
    watch.stop();
    expect(seen.stopped).toBe(true);
  });
});
