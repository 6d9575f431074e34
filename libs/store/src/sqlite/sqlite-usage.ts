import type Database from 'better-sqlite3';
import type { UsageDelta, UsageQuery, UsageSummary } from '../usage';
import { SQLITE_ADD_USAGE, type UsageResultRow, toUsageSummary, usageQuerySql } from '../usage-sql';

/** The usage rows of a SqliteStore: a batch is one transaction of prepared upserts. */
export class SqliteUsage {
  private readonly addOne: Database.Statement<[string, string, string, string, string, number, number, number]>;
  private readonly addAll: (deltas: readonly UsageDelta[]) => void;

  constructor(private readonly db: Database.Database) {
    this.addOne = db.prepare(SQLITE_ADD_USAGE);
    this.addAll = db.transaction((deltas: readonly UsageDelta[]) => {
      for (const d of deltas) this.addOne.run(d.userId, d.tunnelId, d.tunnelName, d.model, d.hour, d.promptTokens, d.completionTokens, d.requests);
    });
  }

  add(deltas: readonly UsageDelta[]): void {
    if (deltas.length > 0) this.addAll(deltas);
  }

  query(query: UsageQuery): UsageSummary[] {
    const { sql, params } = usageQuerySql('sqlite', query);
    return (this.db.prepare(sql).all(...params) as UsageResultRow[]).map(toUsageSummary);
  }
}
