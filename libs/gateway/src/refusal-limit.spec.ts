import { describe, expect, it } from 'vitest';
import { TunnelError } from '@st/tunnel-protocol';
import { InMemoryLimitCounters } from './limit-counters';
import { RequestLimiter } from './request-limiter';
import { limitOf } from './refusal-limit';
import { tooLarge } from './request-body';

describe('limitOf', () => {
  it("names the limit behind each of the limiter's 429s", () => {
    const refusal = (limits: Partial<{ tunnelConcurrency: number; userConcurrency: number; userRps: number; userBurst: number }>) => {
      const limiter = new RequestLimiter(new InMemoryLimitCounters(), { tunnelConcurrency: 0, userConcurrency: 0, userRps: 0, userBurst: 0, ...limits });
      for (let i = 0; i < 10; i++) {
        const a = limiter.admit('u', 't');
        if (a instanceof TunnelError) return limitOf(a);
      }
      return 'admitted';
    };
    expect(refusal({ tunnelConcurrency: 2 })).toBe('tunnel_concurrency');
    expect(refusal({ userConcurrency: 2 })).toBe('user_concurrency');
    expect(refusal({ userRps: 1, userBurst: 2 })).toBe('user_rps');
  });

  it('names body limits and leaves other errors alone', () => {
    expect(limitOf(tooLarge(10))).toBe('max_body');
    expect(limitOf(new TunnelError('bad_request', 'the request body nests JSON deeper than the limit of 128 levels (byte 3; ST_MAX_JSON_DEPTH): send a flatter body'))).toBe('json_depth');
    expect(limitOf(new TunnelError('request_timeout', 'no request body byte arrived for 5 ms (ST_BODY_IDLE_TIMEOUT_MS): …'))).toBe('body_idle');
    expect(limitOf(new TunnelError('request_timeout', 'the request body arrived at 3 bytes/s … (ST_BODY_MIN_RATE): send the body faster'))).toBe('body_min_rate');
    expect(limitOf(new TunnelError('bad_request', 'the request body is not valid JSON'))).toBeUndefined();
    expect(limitOf(new TunnelError('unauthenticated', 'missing API key'))).toBeUndefined();
    expect(limitOf(new TunnelError('no_agent', 'no agent'))).toBeUndefined();
  });
});
