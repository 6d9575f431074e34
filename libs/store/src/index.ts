export { StoreConflictError, StoreNotFoundError, TUNNEL_DEFAULTS } from './store';
export type { Store, User, ApiKeyInfo, Tunnel, TunnelState, NewTunnel } from './store';
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
// store-contract.ts is deliberately not exported: it imports vitest, which has no place in a server build.
