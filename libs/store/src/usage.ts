/**
 * Token usage as the store keeps it: one row per (user, tunnel, model, hour) with sums, written
 * by the gateways in batches. Rows outlive their tunnel and user (no foreign key): a deleted
 * tunnel's usage stays, under its id and the last name it had, so bills and reports still add up.
 */

/** Usage to add to one hourly row. */
export interface UsageDelta {
  userId: string;
  tunnelId: string;
  /** The tunnel's name at the time; the row keeps the latest. */
  tunnelName: string;
  /** The request body's `model` ('' when none). */
  model: string;
  /** Start of the hour, ISO 8601 UTC (`2026-01-02T03:00:00.000Z`): see {@link hourOf}. */
  hour: string;
  promptTokens: number;
  completionTokens: number;
  requests: number;
}

/** How summed rows are grouped: per tunnel, per model, or per (tunnel, model). */
export type UsageGroupBy = 'tunnel' | 'model' | 'both';

export interface UsageQuery {
  /** Only this user's rows; undefined: every user's, one summary per user and group. */
  userId?: string;
  /**
   * Only rows of hours that end after this instant: the hour holding `since` counts whole
   * (usage is kept per hour, so that is the precision of the filter).
   */
  since?: Date;
  groupBy: UsageGroupBy;
}

/** One group's sums. Fields not grouped by are '' (model for 'tunnel'; tunnel id and name for 'model'). */
export interface UsageSummary {
  /** The owner; '' unless the query was for every user. */
  userId: string;
  tunnelId: string;
  tunnelName: string;
  model: string;
  promptTokens: number;
  completionTokens: number;
  requests: number;
}

const HOUR_MS = 3_600_000;

let lastHour = NaN;
let lastHourKey = '';

/** The start of the hour holding `at`, as the store's hour key. */
export function hourOf(at: Date | number): string {
  const ms = typeof at === 'number' ? at : at.getTime();
  const hour = Math.floor(ms / HOUR_MS);
  // Every answer is recorded under the current hour: one Date and ISO string per hour, not per answer.
  if (hour !== lastHour) {
    lastHourKey = new Date(hour * HOUR_MS).toISOString();
    lastHour = hour;
  }
  return lastHourKey;
}

/** The smallest hour key a query with `since` includes. */
export function firstHourOf(since: Date | undefined): string {
  return since ? hourOf(since) : '';
}
