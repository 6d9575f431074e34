import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadAgentConfig } from './agent-config';

const dir = mkdtempSync(join(tmpdir(), 'st-agent-metrics-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BASE = ['--broker-url', 'http://b:1', '--token', 't'];
const load = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadAgentConfig({ argv: [...BASE, ...argv], env, defaultConfigFile: join(dir, 'absent.yaml') });

describe('ST_AGENT_METRICS_ADDR', () => {
  it('is off by default and takes host:port from the flag, the environment or metricsAddr in the file', () => {
    expect(load([]).metricsAddr).toBeUndefined();
    expect(load(['--metrics-addr', '127.0.0.1:9464']).metricsAddr).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(load([], { ST_AGENT_METRICS_ADDR: '[::1]:9465' }).metricsAddr).toEqual({ host: '::1', port: 9465 });
    const yaml = join(dir, 'agent.yaml');
    writeFileSync(yaml, 'metricsAddr: 0.0.0.0:9466\n');
    expect(load(['--config', yaml]).metricsAddr).toEqual({ host: '0.0.0.0', port: 9466 });
    expect(load(['--config', yaml, '--metrics-addr', 'localhost:0']).metricsAddr).toEqual({ host: 'localhost', port: 0 });
  });

  it('refuses what is not host:port, naming where it was given', () => {
    expect(() => load(['--metrics-addr', '9464'])).toThrow(/ST_AGENT_METRICS_ADDR \/ --metrics-addr: expected host:port to listen on/);
    expect(() => load([], { ST_AGENT_METRICS_ADDR: 'host:99999' })).toThrow(/ST_AGENT_METRICS_ADDR/);
    const yaml = join(dir, 'bad.yaml');
    writeFileSync(yaml, 'metricsAddr: http://x:1/metrics\n');
    expect(() => load(['--config', yaml])).toThrow(/metricsAddr in .*bad\.yaml: expected host:port/);
  });
});
