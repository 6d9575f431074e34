import { describe, expect, it } from 'vitest';
import { warningRecorder } from '@st/testing';
import { RefusalSummary } from './refusal-summary';

describe('RefusalSummary', () => {
  it('logs the first refusal at once, then one line per interval with the count', () => {
    let now = 0;
    const { logger, warnings: lines } = warningRecorder();
    const summary = new RefusalSummary(logger, () => now);
    summary.record('u-1', 'over ST_LIMIT_USER_RPS');
    for (let i = 0; i < 999; i++) {
      now += 5;
      summary.record('u-1', 'over ST_LIMIT_USER_RPS');
    }
    expect(lines).toHaveLength(1);
    now += 10_000;
    summary.record('u-2', 'over ST_LIMIT_TUNNEL_CONCURRENCY');
    expect(lines).toHaveLength(2);
    expect(lines[1].fields).toMatchObject({ refused: 1000, userId: 'u-2' });
    expect(lines[1].msg).toMatch(/ST_LIMIT_TUNNEL_CONCURRENCY/);
  });
});
