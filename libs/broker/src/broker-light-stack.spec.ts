import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { GrpcServerHost, bearerMetadata } from '@st/grpc-kit';
import { silentLogger } from '@st/logging';
import { FastTunnelServiceClient } from '@st/tunnel-protocol';
import type { AgentAuthenticator } from './agent-authenticator';
import { BOUNDED_TUNNEL_SERVICE } from './bounded-connect-request';
import { Broker } from './broker';
import { FakeAgent, TOKEN, TUNNEL } from './testing/broker-harness';

/*
 * The broker's Connect on GrpcServerHost's light HTTP/2 stack (libs/grpc-kit/src/h2), registered
 * as control-plane's broker role does, driven by the agent's own client (FastTunnelServiceClient).
 */
const authenticator: AgentAuthenticator = {
  admitAgent: (token) => Promise.resolve(token === TOKEN ? { tunnel: TUNNEL } : { refused: 'unknown_token' }),
};

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function start(): Promise<{ host: GrpcServerHost; broker: Broker; client: InstanceType<typeof FastTunnelServiceClient>; widened: string[] }> {
  const host = new GrpcServerHost({ logger: silentLogger() });
  const widened: string[] = [];
  const broker = new Broker({
    authenticator,
    logger: silentLogger(),
    brokerId: 'light-broker',
    widenWindows: (call) => {
      widened.push(call.getPeer());
      host.widenWindows(call);
    },
  });
  host.addService('sessiontunnel.v1.TunnelService', BOUNDED_TUNNEL_SERVICE, broker.tunnelService);
  const connect = BOUNDED_TUNNEL_SERVICE.connect;
  host.addLightStreamingMethod(connect.path, broker.connectAgent, { deserialize: connect.requestDeserialize, serialize: connect.responseSerialize });
  const port = await host.listen('127.0.0.1', 0);
  const client = new FastTunnelServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  cleanups.push(async () => {
    client.close();
    await broker.shutdown(100);
    await host.shutdown(100);
  });
  return { host, broker, client, widened };
}

describe('the broker on the light HTTP/2 stack', () => {
  it('welcomes an agent, opens its windows once admitted and routes it', async () => {
    const { host, broker, client, widened } = await start();
    const agent = new FakeAgent(client, 'instance-1', 1);
    const welcome = await agent.welcome();
    expect(welcome.brokerId).toBe('light-broker');
    expect(host.lightConnections).toBe(1);
    expect(widened).toHaveLength(1);
    expect(widened[0]).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(broker.isConnected(TUNNEL.id)).toBe(true);
  });

  it('refuses a wrong token with UNAUTHENTICATED and its message', async () => {
    const { client, widened } = await start();
    const call = client.connect(bearerMetadata('not-a-token-of-this-broker'));
    call.on('error', () => undefined);
    const status = await new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    expect(status.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(status.details).toContain('token');
    expect(widened).toEqual([]);
  });

  it('tells the agent to drain at shutdown, then ends its stream', async () => {
    const { broker, client } = await start();
    const agent = new FakeAgent(client, 'instance-1', 1);
    await agent.welcome();
    await broker.shutdown(100);
    expect(agent.frames.some((f) => f.frame?.$case === 'drain')).toBe(true);
    expect((await agent.status).code).toBe(grpc.status.UNAVAILABLE);
  });
});
