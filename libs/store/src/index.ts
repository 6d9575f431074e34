export { SETTING, StoreConflictError, StoreNotFoundError, TUNNEL_DEFAULTS } from './store';
export { hourOf } from './usage';
export type { UsageDelta, UsageGroupBy, UsageQuery, UsageSummary } from './usage';
export type { Store, User, ApiKeyInfo, Session, SessionState, Tunnel, TunnelState, NewTunnel, TunnelCounts } from './store';
export {
  API_KEY_PREFIX,
  AGENT_TOKEN_PREFIX,
  generateSecret,
  digestSecret,
  secretHint,
  isWellFormedSecret,
} from './secrets';
export type { SecretPrefix } from './secrets';
export { newId } from './ids';
export type { IdKind } from './ids';
export { SqliteStore, SQLITE_FILE_NAME } from './sqlite/sqlite-store';
export type { SqliteStoreOptions } from './sqlite/sqlite-store';
export { PostgresStore } from './postgres/postgres-store';
export type { PostgresStoreOptions } from './postgres/postgres-store';
export { openStore } from './open-store';
export type { OpenStoreOptions } from './open-store';
// store-contract*.ts and testing/ are deliberately not exported: they import vitest and
// testcontainers, which have no place in a server build.
export { DATA_DIR_FILES, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, ensurePrivateDir, tightenDataDirFiles } from './private-files';
