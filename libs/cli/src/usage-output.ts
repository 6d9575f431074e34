import type { UsageRow } from '@st/proto';
import { type Column, renderTable } from './table-output';

/**
 * One row of `stctl usage --json`: `tunnel` is the tunnel's name (its id in `tunnelId`), null
 * when grouped by model; `model` null when grouped by tunnel; `userId` only with --all-users.
 */
export interface UsageJson {
  userId?: string;
  tunnel: string | null;
  tunnelId: string | null;
  model: string | null;
  promptTokens: number;
  completionTokens: number;
  requests: number;
}

/** groupBy: 0 tunnel and model, 1 tunnel, 2 model (the proto's UsageGrouping). */
export function usageJson(row: UsageRow, groupBy: number, allUsers: boolean): UsageJson {
  const byTunnel = groupBy !== 2;
  const byModel = groupBy !== 1;
  return {
    ...(allUsers ? { userId: row.userId } : {}),
    tunnel: byTunnel ? row.tunnelName : null,
    tunnelId: byTunnel ? row.tunnelId : null,
    model: byModel ? row.model : null,
    promptTokens: row.promptTokens,
    completionTokens: row.completionTokens,
    requests: row.requests,
  };
}

/** The rows for people, with a total line. */
export function usageTable(rows: readonly UsageRow[], groupBy: number, allUsers: boolean): string {
  if (rows.length === 0) return 'No usage.\n';
  type Line = UsageRow & { total?: boolean };
  const columns: Column<Line>[] = [];
  // The first column names the total line.
  if (allUsers) columns.push({ header: 'USER', value: (r) => (r.total ? 'total' : r.userId) });
  if (groupBy !== 2) {
    const first = columns.length === 0;
    columns.push({ header: 'TUNNEL', value: (r) => (r.total ? (first ? 'total' : '') : r.tunnelName ? `${r.tunnelName} (${r.tunnelId})` : r.tunnelId) });
  }
  if (groupBy !== 1) {
    const first = columns.length === 0;
    columns.push({ header: 'MODEL', value: (r) => (r.total ? (first ? 'total' : '') : r.model || '-') });
  }
  columns.push(
    { header: 'PROMPT', value: (r) => String(r.promptTokens) },
    { header: 'COMPLETION', value: (r) => String(r.completionTokens) },
    { header: 'REQUESTS', value: (r) => String(r.requests) },
  );
  const sum = (f: (r: UsageRow) => number) => rows.reduce((n, r) => n + f(r), 0);
  const total: Line = {
    total: true,
    userId: '',
    tunnelId: '',
    tunnelName: '',
    model: '',
    promptTokens: sum((r) => r.promptTokens),
    completionTokens: sum((r) => r.completionTokens),
    requests: sum((r) => r.requests),
  };
  return renderTable(columns, [...rows, total]);
}
