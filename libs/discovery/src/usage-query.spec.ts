import { describe, expect, it } from 'vitest';
import { UsageRefusal, usageQueryFor } from './usage-query';

const user = { kind: 'user' as const, user: { id: 'u-1', name: 'ada', createdAt: '2026-01-01T00:00:00.000Z' } };
const admin = { kind: 'admin' as const };
const since = new Date('2026-03-01T10:30:00Z');

function refusal(f: () => unknown): UsageRefusal {
  try {
    f();
  } catch (err) {
    if (err instanceof UsageRefusal) return err;
    throw err;
  }
  throw new Error('not refused');
}

describe('usageQueryFor', () => {
  it("gives a user key its own rows, grouped as asked", () => {
    expect(usageQueryFor(user, { since, groupBy: 0, allUsers: false })).toEqual({ userId: 'u-1', since, groupBy: 'both' });
    expect(usageQueryFor(user, { since: undefined, groupBy: 1, allUsers: false }).groupBy).toBe('tunnel');
    expect(usageQueryFor(user, { since: undefined, groupBy: 2, allUsers: false }).groupBy).toBe('model');
  });

  it("gives the admin everyone's rows only with all_users", () => {
    expect(usageQueryFor(admin, { since, groupBy: 1, allUsers: true })).toEqual({ since, groupBy: 'tunnel' });
    const own = refusal(() => usageQueryFor(admin, { since, groupBy: 0, allUsers: false }));
    expect(own.reason).toBe('permission');
    expect(own.message).toMatch(/all_users/);
  });

  it('refuses all_users to a user key, and an unknown grouping', () => {
    const denied = refusal(() => usageQueryFor(user, { since, groupBy: 0, allUsers: true }));
    expect(denied.reason).toBe('permission');
    expect(denied.message).toMatch(/admin token/);
    expect(refusal(() => usageQueryFor(user, { since, groupBy: 7, allUsers: false })).reason).toBe('argument');
  });
});
