import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@st/logging';
import { GrpcServerHost } from './grpc-server-host';
import { SERVER_CONNECTION_WINDOW_BYTES, SERVER_STREAM_WINDOW_BYTES, applyServerWindows } from './http2-windows';

/** What a peer learns from the server's first SETTINGS and WINDOW_UPDATE frames. */
async function windowsSeenBy(client: http2.ClientHttp2Session): Promise<{ initialWindowSize?: number; connectionWindow?: number }> {
  await new Promise<void>((resolve, reject) => {
    client.once('remoteSettings', () => resolve());
    client.once('error', reject);
  });
  // The server sends its windows right behind its first SETTINGS; frames keep their order, so once
  // a PING sent now is answered every one of them has been read.
  await new Promise<void>((resolve, reject) => client.ping((err) => (err ? reject(err) : resolve())));
  return { initialWindowSize: client.remoteSettings.initialWindowSize, connectionWindow: client.state.remoteWindowSize };
}

describe('HTTP/2 windows of our gRPC servers', () => {
  let host: GrpcServerHost | undefined;
  let client: http2.ClientHttp2Session | undefined;
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'st-h2-windows-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    client?.destroy();
    await host?.shutdown(100);
    host = undefined;
  });

  it('advertise a large stream window and open the connection window (plaintext)', async () => {
    host = new GrpcServerHost({ logger: silentLogger() });
    const port = await host.listen('127.0.0.1', 0);
    client = http2.connect(`http://127.0.0.1:${port}`);
    const seen = await windowsSeenBy(client);
    expect(seen.initialWindowSize).toBe(SERVER_STREAM_WINDOW_BYTES);
    // Node's default would leave 65,535 bytes for the whole connection.
    expect(seen.connectionWindow).toBe(SERVER_CONNECTION_WINDOW_BYTES);
  });

  it('do the same behind TLS (ST_TLS_CERT_FILE)', async () => {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'pipe' });
    host = new GrpcServerHost({ logger: silentLogger() });
    const credentials = grpc.ServerCredentials.createSsl(null, [{ cert_chain: readFileSync(cert), private_key: readFileSync(key) }], false);
    const port = await host.listen('127.0.0.1', 0, credentials);
    client = http2.connect(`https://127.0.0.1:${port}`, { ca: readFileSync(cert) });
    const seen = await windowsSeenBy(client);
    expect(seen.initialWindowSize).toBe(SERVER_STREAM_WINDOW_BYTES);
    expect(seen.connectionWindow).toBe(SERVER_CONNECTION_WINDOW_BYTES);
  });

  it('can still reach the grpc-js internal they rely on (fails here, not silently in production, after a grpc-js upgrade)', () => {
    expect(applyServerWindows(new grpc.Server())).toBe(true);
  });
});
