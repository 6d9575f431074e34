import type { TunnelCounts } from './store';

/**
 * Tunnels by stored state, a stopped session stopping its tunnels ({@link Store.countTunnels}).
 * Both backends run the same text: it has no parameters, so placeholders do not differ.
 */
export const COUNT_TUNNELS_SQL = `SELECT COUNT(*) AS total, COALESCE(SUM(CASE WHEN t.state = 'stopped' OR s.state = 'stopped' THEN 1 ELSE 0 END), 0) AS stopped
  FROM tunnels t LEFT JOIN sessions s ON s.id = t.session_id`;

/** The row of {@link COUNT_TUNNELS_SQL}: numbers from SQLite, strings from PostgreSQL (COUNT and SUM are bigint). */
export interface TunnelCountRow {
  total: number | string;
  stopped: number | string;
}

export function toTunnelCounts(row: TunnelCountRow): TunnelCounts {
  const total = Number(row.total);
  const stopped = Number(row.stopped);
  return { started: total - stopped, stopped };
}
