import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs module of the bench, without type declarations
import { startDelayProxy } from './delay-proxy.mjs';

interface Proxy {
  address: string;
  port: number;
  close(): Promise<void>;
}

const closing: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closing.splice(0)) await close();
});

/** An echo server: what a client sends comes back, so one exchange is one round trip. */
async function echoServer(): Promise<number> {
  const server = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  closing.push(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as net.AddressInfo).port;
}

/** Sends `payload` through `port` and resolves with what came back once all of it did. */
function roundTrip(port: number, payload: Buffer): Promise<{ echoed: Buffer; ms: number }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const chunks: Buffer[] = [];
    let got = 0;
    const s = net.connect(port, '127.0.0.1', () => s.write(payload));
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= payload.length) {
        s.destroy();
        resolve({ echoed: Buffer.concat(chunks), ms: performance.now() - start });
      }
    });
    s.on('error', reject);
  });
}

describe('the bench delay proxy', () => {
  it('adds its delay in each direction, so one round trip costs at least twice the delay', async () => {
    const proxy: Proxy = await startDelayProxy({ target: `127.0.0.1:${await echoServer()}`, delayMs: 40 });
    closing.push(() => proxy.close());
    const { echoed, ms } = await roundTrip(proxy.port, Buffer.from('ping'));
    expect(echoed.toString()).toBe('ping');
    // A lower bound only: a busy machine makes it slower, never faster.
    expect(ms).toBeGreaterThanOrEqual(80);
  });

  it('keeps every byte of 16 MiB, in order, through its delayed pipe', async () => {
    const proxy: Proxy = await startDelayProxy({ target: `127.0.0.1:${await echoServer()}`, delayMs: 25 });
    closing.push(() => proxy.close());
    const payload = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE(i, i);
    const { echoed } = await roundTrip(proxy.port, payload);
    expect(echoed.length).toBe(payload.length);
    expect(echoed.equals(payload)).toBe(true);
  });
});
