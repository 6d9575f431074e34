import { createHash } from 'node:crypto';

// Lowercase, unquoted-identifier shape: such a name means the same thing quoted or not (so it can
// go into `search_path` in the startup options and into DDL), and cannot smuggle in any SQL.
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export const DEFAULT_SCHEMA = 'public';

/** The schema name, checked; identifiers cannot be query parameters, so this is what guards DDL. */
export function checkSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw new Error(
      `invalid PostgreSQL schema name "${schema}": use 1 to 63 lowercase letters, digits and "_", not starting with a digit`,
    );
  }
  return schema;
}

/**
 * Pool settings that put every pooled connection on `schema` from its first statement: the
 * server applies startup options before any query, so no connection can ever run against
 * another schema. node-postgres lets `options` in the URL override the config, so URL options
 * are moved out and kept in front of ours.
 */
export function withSearchPath(connectionString: string, schema: string): { connectionString: string; options: string } {
  const searchPath = `-c search_path=${checkSchemaName(schema)}`;
  const url = parseUrl(connectionString);
  const fromUrl = url?.searchParams.get('options');
  if (!url || !fromUrl) return { connectionString, options: searchPath };
  url.searchParams.delete('options');
  return { connectionString: url.toString(), options: `${fromUrl} ${searchPath}` };
}

/** The connection string without its password, fit for logs and error messages. */
export function redactConnectionString(connectionString: string): string {
  const url = parseUrl(connectionString);
  if (!url) return '<unparseable connection string>';
  if (url.password) url.password = '***';
  return url.toString();
}

/**
 * The advisory lock key that serialises migrations of one schema across processes. Derived from
 * the schema so that stores on different schemas (tests, tenants) do not wait for each other.
 */
export function migrationLockKey(schema: string): string {
  const digest = createHash('sha256').update(`session-tunnels/migrations/${schema}`).digest();
  return digest.readBigInt64BE(0).toString();
}

function parseUrl(connectionString: string): URL | null {
  try {
    return new URL(connectionString);
  } catch {
    return null;
  }
}
