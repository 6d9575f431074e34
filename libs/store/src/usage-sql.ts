import { type UsageDelta, type UsageQuery, type UsageSummary, firstHourOf } from './usage';

/** The SQL both backends share for usage; they differ only in placeholders and one aggregate. */
export type UsageDialect = 'sqlite' | 'postgres';

/** A row of {@link usageQuerySql}'s result, as either driver returns it (PostgreSQL sums are strings). */
export interface UsageResultRow {
  user_id: string;
  tunnel_id: string;
  tunnel_name: string;
  model: string;
  prompt_tokens: number | string;
  completion_tokens: number | string;
  requests: number | string;
}

/** Deltas of the same row summed, so that one statement never touches a row twice (PostgreSQL refuses that). */
export function mergeDeltas(deltas: readonly UsageDelta[]): UsageDelta[] {
  const byRow = new Map<string, UsageDelta>();
  for (const d of deltas) {
    const key = JSON.stringify([d.userId, d.tunnelId, d.model, d.hour]);
    const seen = byRow.get(key);
    if (!seen) byRow.set(key, { ...d });
    else {
      seen.tunnelName = d.tunnelName;
      seen.promptTokens += d.promptTokens;
      seen.completionTokens += d.completionTokens;
      seen.requests += d.requests;
    }
  }
  return [...byRow.values()];
}

/** SQLite's upsert of one delta (run per delta inside one transaction). */
export const SQLITE_ADD_USAGE = `
  INSERT INTO usage_hourly (user_id, tunnel_id, tunnel_name, model, hour, prompt_tokens, completion_tokens, requests)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (user_id, tunnel_id, model, hour) DO UPDATE SET
    tunnel_name = excluded.tunnel_name,
    prompt_tokens = prompt_tokens + excluded.prompt_tokens,
    completion_tokens = completion_tokens + excluded.completion_tokens,
    requests = requests + excluded.requests`;

/** PostgreSQL's upsert of a whole batch in one statement (arrays unnested; deltas merged first). */
export const PG_ADD_USAGE = `
  INSERT INTO usage_hourly (user_id, tunnel_id, tunnel_name, model, hour, prompt_tokens, completion_tokens, requests)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[])
  ON CONFLICT (user_id, tunnel_id, model, hour) DO UPDATE SET
    tunnel_name = EXCLUDED.tunnel_name,
    prompt_tokens = usage_hourly.prompt_tokens + EXCLUDED.prompt_tokens,
    completion_tokens = usage_hourly.completion_tokens + EXCLUDED.completion_tokens,
    requests = usage_hourly.requests + EXCLUDED.requests`;

/** The parameters of {@link PG_ADD_USAGE}: one array per column. */
export function pgUsageColumns(deltas: readonly UsageDelta[]): unknown[] {
  return [
    deltas.map((d) => d.userId),
    deltas.map((d) => d.tunnelId),
    deltas.map((d) => d.tunnelName),
    deltas.map((d) => d.model),
    deltas.map((d) => d.hour),
    deltas.map((d) => d.promptTokens),
    deltas.map((d) => d.completionTokens),
    deltas.map((d) => d.requests),
  ];
}

/**
 * The summing query: grouped as asked, per user too when the query is for everyone, largest
 * total first (ties by requests, then ids, so the order is stable on both backends). The tunnel
 * name shown is the one of its newest row.
 */
export function usageQuerySql(dialect: UsageDialect, query: UsageQuery): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const p = (value: unknown) => {
    params.push(value);
    return dialect === 'sqlite' ? '?' : `$${params.length}`;
  };
  const where = [`hour >= ${p(firstHourOf(query.since))}`];
  if (query.userId !== undefined) where.push(`user_id = ${p(query.userId)}`);
  const groups: string[] = [];
  if (query.userId === undefined) groups.push('user_id');
  const byTunnel = query.groupBy !== 'model';
  const byModel = query.groupBy !== 'tunnel';
  if (byTunnel) groups.push('tunnel_id');
  if (byModel) groups.push('model');
  const latestName = dialect === 'sqlite' ? `(SELECT u2.tunnel_name FROM usage_hourly u2 WHERE u2.tunnel_id = usage_hourly.tunnel_id ORDER BY u2.hour DESC LIMIT 1)` : `(array_agg(tunnel_name ORDER BY hour DESC))[1]`;
  const sql = `
    SELECT ${query.userId === undefined ? 'user_id' : `'' AS user_id`},
           ${byTunnel ? 'tunnel_id' : `'' AS tunnel_id`},
           ${byTunnel ? `${latestName} AS tunnel_name` : `'' AS tunnel_name`},
           ${byModel ? 'model' : `'' AS model`},
           SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens, SUM(requests) AS requests
    FROM usage_hourly
    WHERE ${where.join(' AND ')}
    GROUP BY ${groups.join(', ')}
    ORDER BY SUM(prompt_tokens) + SUM(completion_tokens) DESC, SUM(requests) DESC, ${groups.join(', ')}`;
  return { sql, params };
}

export function toUsageSummary(row: UsageResultRow): UsageSummary {
  return {
    userId: row.user_id,
    tunnelId: row.tunnel_id,
    tunnelName: row.tunnel_name ?? '',
    model: row.model,
    promptTokens: Number(row.prompt_tokens),
    completionTokens: Number(row.completion_tokens),
    requests: Number(row.requests),
  };
}
