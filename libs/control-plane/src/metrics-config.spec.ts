import { describe, expect, it } from 'vitest';
import { loadServerConfig } from './server-config';
import { metricsRegistryFor } from './metrics-role';

const load = (env: Record<string, string>, argv: string[] = []) => loadServerConfig({ env, argv });

describe('ST_METRICS_PORT', () => {
  it('is off by default (no registry at all), and takes a port from the environment or --metrics-port', () => {
    expect(load({}).metricsPort).toBeUndefined();
    expect(metricsRegistryFor(load({}))).toBeUndefined();
    expect(load({ ST_METRICS_PORT: '9464' }).metricsPort).toBe(9464);
    expect(load({ ST_METRICS_PORT: '0' }).metricsPort).toBe(0);
    expect(load({}, ['--metrics-port', '9465']).metricsPort).toBe(9465);
    expect(metricsRegistryFor(load({ ST_METRICS_PORT: '0' }))).toBeDefined();
  });

  it('refuses a value that is no port, and the public ports, naming the setting', () => {
    expect(() => load({ ST_METRICS_PORT: 'prometheus' })).toThrow(/ST_METRICS_PORT \/ --metrics-port: expected a port from 0 to 65535/);
    expect(() => load({ ST_METRICS_PORT: '70000' })).toThrow(/ST_METRICS_PORT/);
    expect(() => load({ ST_METRICS_PORT: '8080' })).toThrow(/ST_METRICS_PORT \/ --metrics-port: 8080 is also ST_HTTP_PORT: metrics are served on a port of their own/);
    expect(() => load({ ST_METRICS_PORT: '50051' })).toThrow(/is also ST_GRPC_PORT/);
  });
});
