import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata, type ServiceError, credentials, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExchangeOpener, RemoteExchangeOpener } from '@st/broker';
import { ConfigError } from '@st/config';
import { bearerMetadata } from '@st/grpc-kit';
import { silentLogger } from '@st/logging';
import { RelayServiceClient } from '@st/proto';
import { TestRedisServer } from '@st/testing';
import type { TunnelError } from '@st/tunnel-protocol';
import { ControlPlane } from './control-plane';
import { loadServerConfig } from './server-config';
import { serviceChannelCredentials } from './service-tls';

/** A throwaway CA and a broker certificate it signed for 127.0.0.1 and localhost. */
function makeCertificates(dir: string) {
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=Session Tunnels test CA', '-keyout', file('ca.key'), '-out', file('ca.pem'));
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost', '-keyout', file('broker.key'), '-out', file('broker.csr'));
  writeFileSync(file('broker.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', file('broker.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', file('broker.ext'), '-out', file('broker.pem'));
  return { ca: file('ca.pem'), cert: file('broker.pem'), key: file('broker.key') };
}

/** Opens one exchange for a tunnel nobody has and resolves with how it ended. */
function firstError(opener: ExchangeOpener): Promise<TunnelError> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the exchange neither answered nor failed within 15 s')), 15_000);
    opener.open(
      { tunnelId: 't-nobodyhasthis', userId: 'u-nobody' },
      { requestId: 'r1', method: 'GET', path: '/v1/models', query: '', headers: [], body: new Uint8Array(0), end: true },
      {
        head: () => reject(new Error('unexpected answer')),
        data: () => undefined,
        error: (error) => {
          clearTimeout(timer);
          resolve(error);
        },
      },
    );
  });
}

const SERVICE_TOKEN = 'service-token-of-this-test-0123456789';

describe('service-to-service gRPC: the service token and TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'st-service-tls-'));
  let certs: ReturnType<typeof makeCertificates>;
  let broker: ControlPlane;
  let redis: TestRedisServer;
  let address: string;
  const openers: RemoteExchangeOpener[] = [];
  const opener = (o: ConstructorParameters<typeof RemoteExchangeOpener>[0]) => {
    const r = new RemoteExchangeOpener(o);
    openers.push(r);
    return r;
  };

  beforeAll(async () => {
    certs = makeCertificates(dir);
    // A broker of a split deployment: with Redis it serves only TunnelService and RelayService.
    redis = await TestRedisServer.start();
    const config = loadServerConfig({
      env: {
        ST_ROLE: 'broker',
        ST_DATA_DIR: join(dir, 'data'),
        ST_GRPC_PORT: '0',
        ST_SHUTDOWN_GRACE_MS: '100',
        ST_SERVICE_TOKEN: SERVICE_TOKEN,
        ST_REDIS_URL: redis.url,
        ST_TLS_CERT_FILE: certs.cert,
        ST_TLS_KEY_FILE: certs.key,
      },
      argv: [],
    });
    broker = await ControlPlane.start(config, silentLogger());
    address = `127.0.0.1:${broker.grpcPort}`;
  });

  afterAll(async () => {
    for (const o of openers) o.close();
    await broker?.stop();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a gateway given the CA (ST_TLS_CA_FILE) reaches the TLS broker with the service token', async () => {
    const gatewayConfig = loadServerConfig({ env: { ST_ROLE: 'gateway', ST_TLS_CA_FILE: certs.ca }, argv: [] });
    const error = await firstError(opener({ address, serviceToken: SERVICE_TOKEN, credentials: serviceChannelCredentials(gatewayConfig) }));
    // The broker itself answered (it holds no agent of that tunnel): the call got through TLS
    // and the token check.
    expect(error.kind).toBe('no_agent');
  });

  it('a wrong or missing service token is refused with UNAUTHENTICATED naming ST_SERVICE_TOKEN', async () => {
    const tls = serviceChannelCredentials({ tlsCaFile: certs.ca });
    const client = new RelayServiceClient(address, tls);
    try {
      for (const metadata of [bearerMetadata('not-the-service-token-at-all'), new Metadata()]) {
        const refused = await new Promise<ServiceError>((resolve) => {
          const call = client.exchange(metadata);
          call.on('error', resolve);
          call.on('data', () => undefined);
        });
        expect(refused.code).toBe(status.UNAUTHENTICATED);
        expect(refused.details).toContain('the service token is not valid');
        expect(refused.details).toContain('ST_SERVICE_TOKEN');
      }
    } finally {
      client.close();
    }
    // Through the gateway's opener it is the installation's fault, not the caller's: internal
    // (a 500), the message still naming the setting.
    const error = await firstError(opener({ address, serviceToken: 'not-the-service-token-at-all', credentials: tls }));
    expect(error.kind).toBe('internal');
    expect(error.message).toContain("the broker refused the gateway's service token");
    expect(error.message).toContain('ST_SERVICE_TOKEN');
  });

  it('without the CA the gateway fails with an error that says the certificate was not trusted', async () => {
    const error = await firstError(opener({ address, serviceToken: SERVICE_TOKEN, credentials: credentials.createSsl() }));
    expect(error.kind).toBe('broker_unavailable');
    expect(error.message).toContain(address);
    expect(error.message).toMatch(/certificate/i);
  });

  it('a plaintext gateway dialling the TLS broker fails as unreachable, not with an answer', async () => {
    const error = await firstError(opener({ address, serviceToken: SERVICE_TOKEN, credentials: credentials.createInsecure() }));
    expect(error.kind).toBe('broker_unavailable');
    expect(error.message).toContain(address);
  });

  it('a discovery process takes TLS from the same settings (and hosts no RelayService)', async () => {
    const config = loadServerConfig({
      env: {
        ST_ROLE: 'discovery',
        ST_DATA_DIR: join(dir, 'data'),
        ST_GRPC_PORT: '0',
        ST_SHUTDOWN_GRACE_MS: '100',
        ST_REDIS_URL: redis.url,
        ST_TLS_CERT_FILE: certs.cert,
        ST_TLS_KEY_FILE: certs.key,
      },
      argv: [],
    });
    const discovery = await ControlPlane.start(config, silentLogger());
    const ending = (tls: ReturnType<typeof credentials.createSsl>) => {
      const client = new RelayServiceClient(`127.0.0.1:${discovery.grpcPort}`, tls);
      return new Promise<ServiceError>((resolve) => {
        const call = client.exchange(bearerMetadata(SERVICE_TOKEN));
        call.on('error', (err: ServiceError) => {
          client.close();
          resolve(err);
        });
        call.on('data', () => undefined);
      });
    };
    try {
      // Through TLS verified against the CA, and then: no such service here.
      expect((await ending(serviceChannelCredentials({ tlsCaFile: certs.ca }))).code).toBe(status.UNIMPLEMENTED);
      const untrusted = await ending(credentials.createSsl());
      expect(untrusted.code).toBe(status.UNAVAILABLE);
      expect(untrusted.details).toMatch(/certificate/i);
    } finally {
      await discovery.stop();
    }
  });

  it('ST_TLS_CA_FILE is checked when the settings are loaded', () => {
    expect(() => loadServerConfig({ env: { ST_TLS_CA_FILE: join(dir, 'missing.pem') }, argv: [] })).toThrow(ConfigError);
    expect(() => loadServerConfig({ env: { ST_TLS_CA_FILE: join(dir, 'missing.pem') }, argv: [] })).toThrow(/ST_TLS_CA_FILE: cannot read/);
    expect(() => loadServerConfig({ env: { ST_TLS_CA_FILE: certs.key }, argv: [] })).toThrow(/ST_TLS_CA_FILE: .* holds no PEM certificate/);
  });
});
