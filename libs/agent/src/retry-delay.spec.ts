import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ReconnectBackoff } from './reconnect-backoff';
import { STOPPED_RETRY_MS, refusedAsStopped, retryDelay } from './retry-delay';

const STOPPED_TUNNEL = 'tunnel t-abc is stopped: start the tunnel and the agent will connect';
const STOPPED_SESSION = 'session s-abc of tunnel t-abc is stopped: restart the session and its tunnel, and the agent will connect';

describe('retryDelay', () => {
  it('retries about every second while the tunnel or session is stopped, without growing the backoff', () => {
    const backoff = new ReconnectBackoff({ initialMs: 500, maxMs: 30_000, random: () => 0 });
    for (let i = 0; i < 10; i++) {
      const d = retryDelay({ code: grpc.status.FAILED_PRECONDITION, reason: i % 2 ? STOPPED_TUNNEL : STOPPED_SESSION }, backoff, () => i / 10);
      expect(d.waitingForStart).toBe(true);
      expect(d.delayMs).toBeGreaterThanOrEqual(STOPPED_RETRY_MS * 0.75);
      expect(d.delayMs).toBeLessThanOrEqual(STOPPED_RETRY_MS);
    }
    // The backoff was never used: the next real failure starts from the initial delay.
    expect(retryDelay({ code: grpc.status.UNAVAILABLE, reason: 'connect ECONNREFUSED' }, backoff)).toEqual({ delayMs: 250, waitingForStart: false });
  });

  it('backs off as usual for every other failure, FAILED_PRECONDITION of the agent itself included', () => {
    const backoff = new ReconnectBackoff({ initialMs: 500, maxMs: 30_000, random: () => 0 });
    const local = { code: grpc.status.FAILED_PRECONDITION, reason: 'cannot use the upstream address: bad URL' };
    expect(refusedAsStopped(local.code, local.reason)).toBe(false);
    expect(retryDelay(local, backoff).delayMs).toBe(250);
    // A live stream dropped because the tunnel was stopped is PERMISSION_DENIED: the next attempt tells.
    expect(retryDelay({ code: grpc.status.PERMISSION_DENIED, reason: STOPPED_TUNNEL }, backoff).delayMs).toBe(500);
    expect(retryDelay({ code: grpc.status.UNAVAILABLE, reason: 'x' }, backoff).delayMs).toBe(1000);
  });
});
