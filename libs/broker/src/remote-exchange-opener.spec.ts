import * as grpc from '@grpc/grpc-js';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@st/logging';
import { FAST_RELAY_SERVICE, TunnelError } from '@st/tunnel-protocol';
import type { Exchange, ExchangeOpener, ExchangeSink } from './exchange-api';
import { RemoteExchangeOpener } from './remote-exchange-opener';
import { createRelayService } from './relay-service';

const TOKEN = 'relay-test-token-0123456789';

/** A broker whose agent never grants credit: every body write waits, until the test fails the exchange. */
class StalledOpener implements ExchangeOpener {
  sinks: ExchangeSink[] = [];
  written = 0;
  open(_target: unknown, _head: unknown, sink: ExchangeSink): Exchange {
    this.sinks.push(sink);
    return {
      write: (chunk) => {
        this.written += chunk.length;
        return new Promise<void>(() => undefined);
      },
      release: () => undefined,
      cancel: () => undefined,
    };
  }
}

let server: grpc.Server;
let opener: RemoteExchangeOpener;
const broker = new StalledOpener();

beforeAll(async () => {
  server = new grpc.Server();
  server.addService(FAST_RELAY_SERVICE, createRelayService(broker, TOKEN, silentLogger()));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  opener = new RemoteExchangeOpener({ address: `127.0.0.1:${port}`, serviceToken: TOKEN });
});

afterAll(() => {
  opener.close();
  server.forceShutdown();
});

const within = <T>(promise: Promise<T>, ms: number, what: string) =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms))]);

describe('RemoteExchangeOpener', () => {
  it('lets an upload that waits for drain go on once the relay call fails mid-upload', async () => {
    const errors: TunnelError[] = [];
    const exchange = opener.open(
      { tunnelId: 'tun_1', userId: 'usr_1' },
      { requestId: 'req_1', method: 'POST', path: '/v1/chat/completions', query: '', headers: [], body: new Uint8Array(0), end: false },
      { head: () => undefined, data: () => undefined, error: (e) => errors.push(e) },
    );
    // 8 MB against a broker that holds the first chunk for ever: the relay call stops reading and
    // the gateway's writes wait for a drain.
    let settled = false;
    const upload = exchange.write(new Uint8Array(8 * 1024 * 1024), true).then(() => (settled = true));
    await within(
      (async () => {
        while (broker.sinks.length === 0 || broker.written === 0) await new Promise((r) => setTimeout(r, 10));
      })(),
      5_000,
      'the first body chunk',
    );
    await new Promise((r) => setTimeout(r, 200));
    expect(settled).toBe(false); // back-pressure holds the upload

    broker.sinks[0].error(new TunnelError('upstream_reset', 'the agent disconnected in the middle of the upload'));
    await within(upload, 5_000, 'the upload');
    expect(errors.map((e) => e.kind)).toEqual(['upstream_reset']);
    expect(errors[0].message).toMatch(/disconnected in the middle of the upload/);
  });
});

describe('a broker address that never completes a connection', () => {
  it('fails the exchange as broker_unavailable within the connect bound, so the gateway can retry elsewhere', async () => {
    // Accepts TCP and never says a word: the HTTP/2 handshake never ends, like a dead pod behind
    // a half-working network, and grpc-js would queue the call until the first-byte deadline.
    const mute = net.createServer(() => undefined);
    const held: net.Socket[] = [];
    mute.on('connection', (s) => held.push(s));
    await new Promise<void>((r) => mute.listen(0, '127.0.0.1', () => r()));
    const address = `127.0.0.1:${(mute.address() as net.AddressInfo).port}`;
    const remote = new RemoteExchangeOpener({ address, serviceToken: TOKEN, connectTimeoutMs: 300 });
    try {
      const failure = await new Promise<TunnelError>((resolve, reject) => {
        remote.open({ tunnelId: 't-1', userId: 'u-1' }, { requestId: 'r', method: 'GET', path: '/v1/models', query: '', headers: [], body: new Uint8Array(0), end: true }, {
          head: () => reject(new Error('no head can come from a mute address')),
          data: () => reject(new Error('no data can come from a mute address')),
          error: resolve,
        });
      });
      expect(failure.kind).toBe('broker_unavailable');
      expect(failure.message).toContain(address);
    } finally {
      remote.close();
      for (const s of held) s.destroy();
      mute.close();
    }
  });
});
