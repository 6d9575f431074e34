import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { answersHttp1, explainDialFailure } from './http1-probe';

const servers: Server[] = [];
const sockets = new Set<Socket>();
afterEach(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function listen(server: Server): Promise<string> {
  servers.push(server);
  server.on('connection', (s: Socket) => sockets.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('answersHttp1', () => {
  it('is true for an HTTP/1.1 server', async () => {
    const address = await listen(createHttpServer((_req, res) => res.end('hi')));
    expect(await answersHttp1(address)).toBe(true);
  });

  it('is false for a port that closes at once or answers something else', async () => {
    const closes = await listen(createTcpServer((s) => s.destroy()));
    const garbage = await listen(createTcpServer((s) => s.end('\x15\x03\x01\x00\x02\x02\x46')));
    expect(await answersHttp1(closes)).toBe(false);
    expect(await answersHttp1(garbage)).toBe(false);
  });
});

describe('explainDialFailure', () => {
  it("names the gateway's HTTP port for a protocol error against an HTTP/1.1 server", async () => {
    const address = await listen(createHttpServer((_req, res) => res.end('hi')));
    const hint = await explainDialFailure('No connection established. Last error: Protocol error', { tls: false, host: '127.0.0.1', address });
    expect(hint).toMatch(/gateway's HTTP port .*the broker listens on ST_GRPC_PORT/);
  });

  it('keeps the TLS hint when the port is not HTTP/1.1', async () => {
    const address = await listen(createTcpServer((s) => s.destroy()));
    const hint = await explainDialFailure('No connection established. Last error: Protocol error', { tls: false, host: '127.0.0.1', address });
    expect(hint).toMatch(/https:\/\//);
  });
});
