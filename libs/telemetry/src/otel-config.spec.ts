import { describe, expect, it } from 'vitest';
import { tracingConfig } from './otel-config';

describe('tracingConfig', () => {
  it('is off without an OTLP endpoint, with OTEL_SDK_DISABLED=true, or with another exporter', () => {
    expect(tracingConfig({}, 'st-gateway')).toBeUndefined();
    expect(tracingConfig({ OTEL_SERVICE_NAME: 'x', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, 'st-gateway')).toBeUndefined();
    expect(tracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'TRUE' }, 'st-gateway')).toBeUndefined();
    expect(tracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }, 'st-gateway')).toBeUndefined();
    expect(tracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: ' ' }, 'st-gateway')).toBeUndefined();
  });

  it('is on with either endpoint; the traces one is used as it is, the base one gets /v1/traces', () => {
    expect(tracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/', OTEL_SDK_DISABLED: 'false' }, 'st-broker')).toEqual({
      serviceName: 'st-broker',
      endpoint: 'http://c:4318/v1/traces',
    });
    expect(tracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:9/in', OTEL_TRACES_EXPORTER: 'otlp' }, 'st-agent')).toEqual({
      serviceName: 'st-agent',
      endpoint: 'http://t:9/in',
    });
  });

  it('takes OTEL_SERVICE_NAME, and warns about a protocol other than http/json', () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SERVICE_NAME: 'edge-gw', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' };
    expect(tracingConfig(env, 'st-gateway')).toEqual({ serviceName: 'edge-gw', endpoint: 'http://c:4318/v1/traces' });
    const grpc = tracingConfig({ ...env, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' }, 'st-gateway');
    expect(grpc?.protocolWarning).toMatch(/OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not available in this build.*OTLP\/HTTP JSON/);
  });
});
