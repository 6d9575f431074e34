import { describe, expect, it } from 'vitest';
import { ConfigError } from '@st/config';
import { SETTING } from '@st/store';
import { checksAdminToken, isReplica, replicaAdminToken, requireReplicaSecrets } from './replica-secrets';
import type { Role } from './server-config';

const PG = 'postgresql://db/st';
const base = { databaseUrl: PG, redisUrl: 'redis://r:6379', serviceToken: 's'.repeat(32), secretKey: 'k'.repeat(32), adminToken: undefined };
const noDigest = { getSetting: async () => null };
const withDigest = (hex: string) => ({ getSetting: async (name: string) => (name === SETTING.adminTokenDigest ? hex : null) });

describe('secrets of replicas', () => {
  it('only a process with some of the roles on a shared database is a replica', () => {
    expect(isReplica({ role: ['broker', 'gateway', 'discovery'], databaseUrl: PG })).toBe(false);
    expect(isReplica({ role: ['broker'], databaseUrl: undefined })).toBe(false);
    expect(isReplica({ role: ['broker'], databaseUrl: PG })).toBe(true);
    expect(isReplica({ role: ['broker', 'gateway'], databaseUrl: PG })).toBe(true);
  });

  it('names every missing shared secret at once', () => {
    const check = () => requireReplicaSecrets({ ...base, role: ['gateway'], serviceToken: undefined, secretKey: undefined });
    expect(check).toThrow(ConfigError);
    expect(check).toThrow(/ST_SERVICE_TOKEN: required[\s\S]*ST_SECRET_KEY: required/);
    expect(() => requireReplicaSecrets({ ...base, role: ['broker', 'gateway', 'discovery'], serviceToken: undefined })).not.toThrow();
  });

  it('the admin token is needed where the management API is: discovery, or a broker without Redis', async () => {
    const roles: [Role[], string | undefined, boolean][] = [
      [['discovery'], 'redis://r', true],
      [['broker'], undefined, true],
      [['broker'], 'redis://r', false],
      [['gateway'], 'redis://r', false],
      [['gateway'], undefined, false],
    ];
    for (const [role, redisUrl, needed] of roles) {
      expect(checksAdminToken({ role, redisUrl })).toBe(needed);
      const loading = replicaAdminToken(noDigest, { ...base, role, redisUrl });
      if (needed) await expect(loading).rejects.toThrow(/ST_ADMIN_TOKEN: required .*openssl rand -hex 32.*admin-token --reset/);
      else expect(await (await loading).matches('anything')).toBe(false);
    }
  });

  it('takes ST_ADMIN_TOKEN, else the digest already in the database', async () => {
    const fixed = await replicaAdminToken(noDigest, { ...base, role: ['discovery'], adminToken: 'the-admin-token' });
    expect(await fixed.matches('the-admin-token')).toBe(true);
    // sha256("secret")
    const stored = await replicaAdminToken(withDigest('2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b'), { ...base, role: ['discovery'] });
    expect(await stored.matches('secret')).toBe(true);
    expect(await stored.matches('other')).toBe(false);
  });
});
