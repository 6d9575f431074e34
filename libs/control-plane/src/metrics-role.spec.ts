import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@st/logging';
import { scrapeMetrics } from '@st/testing';
import { ControlPlane } from './control-plane';
import { loadServerConfig } from './server-config';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const start = (env: Record<string, string>) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'st-metrics-role-'));
  dirs.push(dataDir);
  const config = loadServerConfig({ env: { ST_DATA_DIR: dataDir, ST_HTTP_PORT: '0', ST_GRPC_PORT: '0', ST_SHUTDOWN_GRACE_MS: '200', ...env }, argv: [] });
  return ControlPlane.start(config, silentLogger());
};

describe('metrics of a control plane', () => {
  it('serves every role of the process on the one ST_METRICS_PORT, apart from the gateway port', async () => {
    const plane = await start({ ST_METRICS_PORT: '0' });
    try {
      const port = plane.metricsServer?.port;
      expect(port).toBeGreaterThan(0);
      expect(port).not.toBe(plane.httpPort);
      const m = await scrapeMetrics(`http://127.0.0.1:${port}/metrics`);
      expect(m.family('st_gateway_requests_total')?.type).toBe('counter');
      expect(m.family('st_broker_agent_streams')?.type).toBe('gauge');
      expect(m.family('st_limit_refusals_total')?.type).toBe('counter');
      expect(m.family('st_process_resident_memory_bytes')?.type).toBe('gauge');
    } finally {
      await plane.stop();
    }
    expect(plane.metricsServer?.port).toBeUndefined();
  });

  it('serves nothing without ST_METRICS_PORT', async () => {
    const plane = await start({});
    try {
      expect(plane.metricsServer).toBeUndefined();
    } finally {
      await plane.stop();
    }
  });
});
