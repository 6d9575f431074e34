import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type MockModel,
  type Server,
  builtApp,
  cleanupAll,
  demoInit,
  makeTempDir,
  spawnProcess,
  startAgent,
  startMockModel,
  startServer,
  waitForTunnel,
} from '@st/testing';
import { logEntries, waitForEntries } from './resilience-support';

/** A throwaway CA, a server certificate it signed for 127.0.0.1 and localhost, and an unrelated CA. */
function makeCertificates(dir: string) {
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  for (const ca of ['ca', 'other-ca']) {
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', `/CN=Session Tunnels test ${ca}`, '-keyout', file(`${ca}.key`), '-out', file(`${ca}.pem`));
  }
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost', '-keyout', file('server.key'), '-out', file('server.csr'));
  writeFileSync(file('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', file('server.ext'), '-out', file('server.pem'));
  return { ca: file('ca.pem'), otherCa: file('other-ca.pem'), cert: file('server.pem'), key: file('server.key'), otherKey: file('other-ca.key') };
}

let certs: ReturnType<typeof makeCertificates>;
let server: Server;
let mock: MockModel;
let agentToken: string;
let baseUrl: string;
let apiKey: string;

beforeAll(async () => {
  certs = makeCertificates(makeTempDir('st-tls-'));
  [server, mock] = await Promise.all([startServer({ ST_TLS_CERT_FILE: certs.cert, ST_TLS_KEY_FILE: certs.key }), startMockModel()]);
  const demo = await demoInit(server.dataDir);
  agentToken = demo.agentToken;
  apiKey = demo.apiKey;
  baseUrl = `${server.publicUrl}/t/${demo.tunnelId}/v1`;
});

afterAll(cleanupAll);

const agentEnv = (env: Record<string, string>) => ({ ST_TUNNEL_TOKEN: agentToken, ST_UPSTREAM_URL: mock.url, ...env });

describe('TLS between st-agent and the broker', () => {
  it('serves over https:// with the CA from ST_BROKER_CA_FILE, also through a gateway of its own (split roles)', async () => {
    const agent = await startAgent(agentEnv({ ST_BROKER_URL: `https://127.0.0.1:${server.grpcPort}`, ST_BROKER_CA_FILE: certs.ca }));
    expect(logEntries(agent, /^connected to broker$/)[0]).toMatchObject({ tls: true });
    await waitForTunnel(baseUrl, apiKey);
    // A gateway without the broker role reaches the TLS port as https:// with the same CA.
    const gateway = await startServer({
      ST_ROLE: 'gateway',
      ST_DATA_DIR: server.dataDir,
      ST_BROKER_ADDRESS: `https://127.0.0.1:${server.grpcPort}`,
      ST_BROKER_CA_FILE: certs.ca,
    });
    await waitForTunnel(baseUrl.replace(server.publicUrl!, gateway.publicUrl!), apiKey);
    await Promise.all([agent.stop(), gateway.process.stop()]);
  });

  it('keeps retrying with a log line that says the certificate is not trusted and which setting fixes it', async () => {
    const agent = await startAgent(agentEnv({ ST_BROKER_URL: `https://127.0.0.1:${server.grpcPort}`, ST_BROKER_CA_FILE: certs.otherCa }), {
      waitForConnected: false,
    });
    const retries = await waitForEntries(agent, /^cannot connect to the broker; retrying with backoff$/, 2);
    expect(String(retries[0].hint)).toMatch(/TLS certificate is not trusted.*ST_BROKER_CA_FILE/);
    expect(retries[1].retryInMs).toBeGreaterThanOrEqual(retries[0].retryInMs as number);
    expect(agent.exit).toBeUndefined();
    await agent.stop();
  });

  it('says so when the agent dials the TLS port in plaintext', async () => {
    const agent = await startAgent(agentEnv({ ST_BROKER_URL: `http://127.0.0.1:${server.grpcPort}` }), { waitForConnected: false });
    const [retry] = await waitForEntries(agent, /^cannot connect to the broker; retrying with backoff$/);
    expect(String(retry.hint)).toMatch(/https:\/\//);
    await agent.stop();
  });

  it('refuses to start the agent with a CA file that holds no certificate (exit 2)', async () => {
    const agent = await startAgent(agentEnv({ ST_BROKER_URL: `https://127.0.0.1:${server.grpcPort}`, ST_BROKER_CA_FILE: certs.otherKey }), {
      waitForConnected: false,
    });
    const exit = await agent.exited;
    expect(exit.code, agent.describe()).toBe(2);
    expect(agent.lines.map((l) => l.text).join('\n')).toMatch(/ST_BROKER_CA_FILE.*holds no PEM certificate/);
  });

  it('refuses to start st-server with a certificate but no key, or a key that does not match (exit 2)', async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ ST_TLS_CERT_FILE: certs.cert }, /ST_TLS_KEY_FILE: required because ST_TLS_CERT_FILE is set/],
      [{ ST_TLS_CERT_FILE: certs.cert, ST_TLS_KEY_FILE: certs.otherKey }, /ST_TLS_KEY_FILE: the private key in .* does not belong to the certificate/],
      [{ ST_TLS_CERT_FILE: join(server.dataDir, 'missing.pem'), ST_TLS_KEY_FILE: certs.key }, /ST_TLS_CERT_FILE: cannot read .*missing\.pem/],
    ];
    await Promise.all(
      cases.map(async ([env, message]) => {
        const proc = spawnProcess({ name: 'st-server', script: builtApp('server'), env: { ST_DATA_DIR: makeTempDir(), ST_GRPC_PORT: 0, ST_HTTP_PORT: 0, ...env } });
        const exit = await proc.exited;
        expect(exit.code, proc.describe()).toBe(2);
        expect(proc.lines.filter((l) => l.stream === 'stderr').map((l) => l.text).join('\n')).toMatch(message);
      }),
    );
  });
});
