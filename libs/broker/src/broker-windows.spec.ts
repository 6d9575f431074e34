import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { bearerMetadata } from '@st/grpc-kit';
import { silentLogger } from '@st/logging';
import { waitUntil } from '@st/testing';
import { FAST_RELAY_SERVICE, type TunnelError } from '@st/tunnel-protocol';
import type { Exchange, ExchangeOpener } from './exchange-api';
import { RemoteExchangeOpener } from './remote-exchange-opener';
import { createRelayService } from './relay-service';
import { type BrokerHarness, FakeAgent, startBroker } from './testing/broker-harness';

/*
 * The large HTTP/2 windows of a connection (GrpcServerHost.widenWindows) open only for a peer that
 * showed a valid token: until then a stream nobody reads holds at most Node's 64 KiB in the broker.
 */

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

describe('the broker widens HTTP/2 windows', () => {
  it('for an agent once its token is admitted, never for a refused one', async () => {
    const widened: string[] = [];
    const h: BrokerHarness = await startBroker({ widenWindows: (call) => widened.push(call.getPeer()) });
    cleanups.push(() => h.close());
    const refused = h.client.connect(bearerMetadata('not-a-token-of-this-broker'));
    refused.on('error', () => undefined);
    const status = await new Promise<grpc.StatusObject>((resolve) => refused.on('status', resolve));
    expect(status.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(widened).toEqual([]);

    const agent = new FakeAgent(h.client, 'instance-1', 1);
    await agent.welcome();
    expect(widened).toHaveLength(1);
    expect(widened[0]).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('for a gateway once its relay call showed the service token, never for a wrong token', async () => {
    const TOKEN = 'relay-windows-token-0123456789';
    const widened: string[] = [];
    let opened = 0;
    const opener: ExchangeOpener = {
      open: (_target, _head, sink): Exchange => {
        opened++;
        queueMicrotask(() => sink.head(204, [], new Uint8Array(0), true));
        return { write: () => Promise.resolve(), release: () => undefined, cancel: () => undefined };
      },
    };
    const server = new grpc.Server();
    server.addService(FAST_RELAY_SERVICE, createRelayService(opener, TOKEN, silentLogger(), (call) => widened.push(call.getPeer())));
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    cleanups.push(() => server.forceShutdown());
    const exchangeWith = (serviceToken: string) => {
      const gateway = new RemoteExchangeOpener({ address: `127.0.0.1:${port}`, serviceToken });
      cleanups.push(() => gateway.close());
      return new Promise<{ status?: number; error?: TunnelError }>((resolve) =>
        gateway.open(
          { tunnelId: 'tun_1', userId: 'usr_1' },
          { requestId: 'req_1', method: 'GET', path: '/v1/models', query: '', headers: [], body: new Uint8Array(0), end: true },
          { head: (status) => resolve({ status }), data: () => undefined, error: (error) => resolve({ error }) },
        ),
      );
    };

    expect((await exchangeWith('a-wrong-service-token-0123456')).error?.message).toMatch(/refused the gateway's service token/);
    expect(widened).toEqual([]);
    expect(await exchangeWith(TOKEN)).toEqual({ status: 204 });
    await waitUntil('the relay call to reach the broker', () => opened === 1);
    expect(widened).toHaveLength(1);
  });
});
