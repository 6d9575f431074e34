import { type ServerResponse, createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Header } from '@st/proto';
import { silentLogger } from '@st/logging';
import { ExchangeResponder } from './exchange-responder';

// A real node:http server whose answers come from an ExchangeResponder fed as a (hostile) agent
// would feed it; the client reads the raw bytes, status line included.

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

/** The raw HTTP answer when the agent's head is `status` and `headers`. */
async function rawAnswer(status: number, headers: Header[], apiAnswer = true): Promise<{ text: string; cancelled: string[] }> {
  const cancelled: string[] = [];
  const server = createServer((_req, res: ServerResponse) => {
    const responder = new ExchangeResponder(res, {
      requestId: 'r-1',
      tunnelId: 't-1',
      firstByteTimeoutMs: 10_000,
      idleTimeoutMs: 10_000,
      logger: silentLogger(),
      apiAnswer,
    });
    responder.attach({ write: () => Promise.resolve(), release: () => {}, cancel: (reason) => cancelled.push(reason) });
    responder.head(status, headers, Buffer.from('{"ok":true}'), true);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => server.close());
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  socket.end('GET /v1/models HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  return { text: Buffer.concat(chunks).toString('latin1'), cancelled };
}

describe('ExchangeResponder with a hostile agent', () => {
  it('answers an informational or switching status with 502 tunnel_protocol_error, never the status itself', async () => {
    for (const status of [100, 101, 103, 199]) {
      const { text, cancelled } = await rawAnswer(status, [{ name: 'upgrade', value: 'websocket' }]);
      expect(text, String(status)).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
      expect(text).toContain('"code":"tunnel_protocol_error"');
      expect(text).not.toMatch(/^HTTP\/1\.1 1\d\d/m);
      expect(cancelled).toEqual(['invalid response head']);
    }
  });

  it('answers a header with CR/LF or control characters with a proper 502 status line, not "502 OK"', async () => {
    for (const header of [
      { name: 'x-bad', value: 'a\r\nset-cookie: injected=1' },
      { name: 'x-bad', value: 'a\u0001b' },
      { name: 'x bad', value: 'v' },
    ]) {
      const { text } = await rawAnswer(200, [{ name: 'content-type', value: 'application/json' }, header]);
      expect(text, JSON.stringify(header)).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
      expect(text).toContain('"code":"tunnel_protocol_error"');
      expect(text.toLowerCase()).not.toContain('injected');
    }
  });

  it("drops the model server's cookies and CORS grants and adds nosniff on API answers only", async () => {
    const headers = [
      { name: 'content-type', value: 'application/json' },
      { name: 'set-cookie', value: 'a=1' },
      { name: 'Set-Cookie', value: 'b=2' },
      { name: 'access-control-allow-origin', value: '*' },
      { name: 'x-kept', value: 'yes' },
    ];
    const api = (await rawAnswer(200, headers)).text.toLowerCase();
    expect(api).toMatch(/^http\/1\.1 200 ok\r\n/);
    expect(api).not.toContain('set-cookie');
    expect(api).not.toContain('access-control-');
    expect(api).toContain('x-content-type-options: nosniff');
    expect(api).toContain('x-kept: yes');
    const plain = (await rawAnswer(200, headers, false)).text.toLowerCase();
    expect(plain).toContain('set-cookie: a=1');
    expect(plain).toContain('access-control-allow-origin: *');
    expect(plain).not.toContain('nosniff');
  });
});
