import { makeTempDir } from './stack';
import { type ManagedProcess, type ProcessEnv, spawnProcess } from './managed-process';
import { builtApp } from './built-apps';

export interface DiscoveryProcess {
  process: ManagedProcess;
  /** `127.0.0.1:PORT`: what stctl's ST_SERVER points at (management and ProviderDiscoveryService). */
  grpcAddress: string;
  grpcPort: number;
  /** `http://127.0.0.1:PORT`: the Connect face for browsers, /healthz and /readyz. */
  httpUrl: string;
}

/**
 * Starts st-discovery and waits for its ready line. `env` needs ST_REDIS_URL (and, to share a
 * store with other processes, ST_DATABASE_URL). Defaults: its own temporary ST_DATA_DIR, free
 * ports, 127.0.0.1.
 */
export async function startDiscovery(env: ProcessEnv): Promise<DiscoveryProcess> {
  const full: ProcessEnv = { ST_HOST: '127.0.0.1', ST_HTTP_PORT: 0, ST_GRPC_PORT: 0, ...env };
  if (full.ST_DATA_DIR === undefined) full.ST_DATA_DIR = makeTempDir('st-discovery-');
  const proc = spawnProcess({ name: 'st-discovery', script: builtApp('discovery'), env: full });
  const [, grpcAddress, grpcPort, httpAddress] = await proc.waitForLine(/^st-discovery ready: gateway - grpc (\S+:(\d+)) connect (\S+)$/);
  return { process: proc, grpcAddress, grpcPort: Number(grpcPort), httpUrl: `http://${httpAddress}` };
}
