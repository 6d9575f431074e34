import { AdminToken } from '@st/auth';
import { ConfigError } from '@st/config';
import type { Store } from '@st/store';
import { ROLES, type ServerConfig } from './server-config';

type SecretsConfig = Pick<ServerConfig, 'role' | 'databaseUrl' | 'redisUrl' | 'serviceToken' | 'secretKey' | 'adminToken'>;

const MAKE_ONE = 'make one with `openssl rand -hex 32` and give the same value to every broker, gateway and discovery process';

/**
 * A replica: a process with only some of the roles (st-broker, st-gateway, st-discovery, or
 * `--role` other than all) on a shared database. Its siblings run elsewhere, so a secret made in
 * its own data directory would differ from theirs: tokens would not verify and sealed upstream
 * keys would not open. The embedded default (every role) and the legacy shared-SQLite split
 * (one data directory for every role) keep making their secrets there.
 */
export function isReplica(config: Pick<ServerConfig, 'role' | 'databaseUrl'>): boolean {
  return Boolean(config.databaseUrl) && new Set(config.role).size < ROLES.length;
}

/**
 * Where the management API and user admin live in this process: the discovery role, or a broker
 * without Redis (it then hosts discovery too). Only those check the admin token.
 */
export function checksAdminToken(config: Pick<ServerConfig, 'role' | 'redisUrl'>): boolean {
  return config.role.includes('discovery') || (config.role.includes('broker') && !config.redisUrl);
}

/**
 * The secrets a replica must be given, checked before anything is opened. ST_SERVICE_TOKEN and
 * ST_SECRET_KEY are required by every replica, whatever its role: one Secret serves them all, and
 * moving a role between processes needs no new one. Throws a ConfigError naming each missing one.
 */
export function requireReplicaSecrets(config: SecretsConfig): void {
  if (!isReplica(config)) return;
  const roles = config.role.join(',');
  const missing: string[] = [];
  if (!config.serviceToken) {
    missing.push(`  ST_SERVICE_TOKEN: required by a split process on a shared database (roles ${roles}): gateways show it to brokers on RelayService; ${MAKE_ONE}`);
  }
  if (!config.secretKey) {
    missing.push(`  ST_SECRET_KEY: required by a split process on a shared database (roles ${roles}): it encrypts the tunnels' upstream API keys in the database; ${MAKE_ONE}`);
  }
  if (missing.length > 0) throw new ConfigError(`invalid configuration:\n${missing.join('\n')}`);
}

/**
 * A replica's admin token: ST_ADMIN_TOKEN, else the digest already in the database (made by the
 * first all-in-one start or `admin-token --reset`); never a new one, which only this replica
 * would print. A role that checks no admin token runs without one.
 */
export async function replicaAdminToken(store: Pick<Store, 'getSetting'>, config: SecretsConfig): Promise<AdminToken> {
  if (config.adminToken) return AdminToken.fixed(config.adminToken);
  const stored = await AdminToken.stored(store);
  if (stored) return stored;
  if (!checksAdminToken(config)) return AdminToken.none();
  throw new ConfigError(
    `invalid configuration:\n  ST_ADMIN_TOKEN: required by the management API of this split process (roles ${config.role.join(',')}) because the database holds no admin token yet: ` +
      'set ST_ADMIN_TOKEN on every discovery process (make one with `openssl rand -hex 32`), or make the stored one once with ' +
      '`ST_DATABASE_URL=… st-server admin-token --reset` and keep what it prints',
  );
}
