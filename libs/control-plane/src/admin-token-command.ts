import { AdminToken } from '@st/auth';
import { openStore } from '@st/store';
import type { ServerConfig } from './server-config';

/** What `st-server admin-token` accepts after its name. */
export const ADMIN_TOKEN_USAGE = 'admin-token --reset';

/** Writes for people (stderr) and for scripts (stdout); injectable for tests. */
export interface CommandOutput {
  stdout(text: string): void;
  stderr(text: string): void;
}

/**
 * `st-server admin-token --reset`: mints a new admin token, stores its digest (every replica
 * sharing the store takes it within seconds; the old token stops working) and prints it once, as
 * `export ST_ADMIN_TOKEN=…` on stdout so that `eval "$(st-server admin-token --reset)"` works.
 * Returns the exit code.
 */
export async function runAdminTokenCommand(name: string, args: string[], config: ServerConfig, out: CommandOutput): Promise<number> {
  if (args.length !== 1 || args[0] !== '--reset') {
    out.stderr(`${name}: usage: ${name} ${ADMIN_TOKEN_USAGE} (mints a new admin token and prints it once)\n`);
    return 2;
  }
  if (config.adminToken) {
    out.stderr(
      `${name}: ST_ADMIN_TOKEN is set, so the admin token is its value and no stored one is used: ` +
        'change ST_ADMIN_TOKEN where st-server runs instead, or unset it and run this again\n',
    );
    return 2;
  }
  const store = await openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl });
  try {
    const token = await AdminToken.reset(store);
    out.stderr(`${name}: new admin token (shown once; the old one no longer works, running servers take the new one within seconds):\n`);
    out.stdout(`export ST_ADMIN_TOKEN=${token}\n`);
  } finally {
    await store.close();
  }
  return 0;
}
