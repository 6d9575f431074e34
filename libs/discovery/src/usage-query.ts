import type { Caller } from '@st/auth';
import type { UsageGroupBy, UsageQuery, UsageSummary } from '@st/store';

/** GetUsage's request in plain terms, whichever face (gRPC or Connect) it came through. */
export interface UsageAsk {
  since: Date | undefined;
  /** The proto's UsageGrouping: 0 (tunnel and model), 1 (tunnel), 2 (model). */
  groupBy: number;
  allUsers: boolean;
}

/** Why GetUsage refused; each face maps it to its PERMISSION_DENIED / INVALID_ARGUMENT. */
export class UsageRefusal extends Error {
  override readonly name = 'UsageRefusal';
  constructor(
    readonly reason: 'permission' | 'argument',
    message: string,
  ) {
    super(message);
  }
}

const GROUPINGS: Record<number, UsageGroupBy> = { 0: 'both', 1: 'tunnel', 2: 'model' };

/**
 * The store query a caller may make: a user key sees only its own rows (all_users refused: it
 * is the admin's), the admin token only everyone's (it owns no traffic of its own).
 */
export function usageQueryFor(caller: Caller, ask: UsageAsk): UsageQuery {
  const groupBy = GROUPINGS[ask.groupBy];
  if (!groupBy) throw new UsageRefusal('argument', `group_by ${ask.groupBy} is not a UsageGrouping: use USAGE_GROUPING_TUNNEL, USAGE_GROUPING_MODEL or leave it unset`);
  if (ask.since && Number.isNaN(ask.since.getTime())) throw new UsageRefusal('argument', 'since is not a valid time');
  if (caller.kind === 'admin') {
    if (!ask.allUsers) {
      throw new UsageRefusal('permission', "the admin token has no usage of its own: ask for every user's (all_users, stctl usage --all-users) or use a user's API key");
    }
    return { since: ask.since, groupBy };
  }
  if (ask.allUsers) {
    throw new UsageRefusal('permission', "every user's usage is the admin's to see: use the admin token (ST_ADMIN_TOKEN), or drop all_users (--all-users) to see your own");
  }
  return { userId: caller.user.id, since: ask.since, groupBy };
}

/** A summary as the proto's UsageRow (user id only for everyone's). */
export function usageRowOf(s: UsageSummary) {
  return {
    userId: s.userId,
    tunnelId: s.tunnelId,
    tunnelName: s.tunnelName,
    model: s.model,
    promptTokens: s.promptTokens,
    completionTokens: s.completionTokens,
    requests: s.requests,
  };
}
