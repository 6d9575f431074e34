import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, type Server, cleanupAll, startServer } from '@st/testing';

const run = promisify(execFile);
const BUF = join(REPO_ROOT, 'node_modules', '.bin', 'buf');

let server: Server;

beforeAll(async () => {
  server = await startServer();
});

afterAll(cleanupAll);

/** `buf curl` over plaintext HTTP/2 against the broker's gRPC port. */
async function bufCurl(...args: string[]): Promise<string> {
  const { stdout } = await run(BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', ...args], { timeout: 20_000 });
  return stdout;
}

describe('the gRPC port, seen by standard tools', () => {
  it('lists its services through server reflection', async () => {
    const services = (await bufCurl('--list-services', `http://127.0.0.1:${server.grpcPort}`)).trim().split('\n');
    expect(services).toEqual(
      expect.arrayContaining([
        'grpc.health.v1.Health',
        'grpc.reflection.v1.ServerReflection',
        'sessiontunnel.v1.TunnelService',
        'sessiontunnel.v1.RelayService',
      ]),
    );
  });

  it('answers SERVING to a health check, for the server and for the tunnel service', async () => {
    const url = `http://127.0.0.1:${server.grpcPort}/grpc.health.v1.Health/Check`;
    expect(JSON.parse(await bufCurl(url))).toEqual({ status: 'SERVING' });
    expect(JSON.parse(await bufCurl('-d', '{"service":"sessiontunnel.v1.TunnelService"}', url))).toEqual({ status: 'SERVING' });
  });
});
