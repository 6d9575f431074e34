import * as grpc from '@grpc/grpc-js';
import { bearerMetadata } from '@st/grpc-kit';
import { silentLogger } from '@st/logging';
import { type AgentFrame, type BrokerFrame, type ConnectRequest, type ConnectResponse, TunnelServiceClient, type Welcome } from '@st/proto';
import { waitUntil } from '@st/testing';
import { CAPABILITY_HEALTH_REPORT } from '@st/tunnel-protocol';
import type { AgentAuthenticator } from '../agent-authenticator';
import { BOUNDED_TUNNEL_SERVICE } from '../bounded-connect-request';
import { Broker, type BrokerOptions } from '../broker';

/** Test support (not exported by the library): a Broker on 127.0.0.1 and agents driven frame by frame. */

export const TUNNEL = { id: 'tun_h', userId: 'usr_h', remoteHost: '127.0.0.1', remotePort: 9, openai: true, upstreamApiKey: '' };
export const TOKEN = 'harness-agent-token';

const authenticator: AgentAuthenticator = {
  admitAgent: (token) => Promise.resolve(token === TOKEN ? { tunnel: TUNNEL } : { refused: 'unknown_token' }),
};

export interface BrokerHarness {
  broker: Broker;
  client: TunnelServiceClient;
  close(): void;
}

export async function startBroker(options: Partial<BrokerOptions> = {}): Promise<BrokerHarness> {
  const broker = new Broker({ authenticator, logger: silentLogger(), brokerId: 'harness-broker', ...options });
  const server = new grpc.Server();
  server.addService(BOUNDED_TUNNEL_SERVICE, broker.tunnelService);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const client = new TunnelServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return {
    broker,
    client,
    close: () => {
      client.close();
      server.forceShutdown();
    },
  };
}

/** One agent stream: registers, answers pings, reports health when told to. */
export class FakeAgent {
  readonly call: grpc.ClientDuplexStream<ConnectRequest, ConnectResponse>;
  readonly frames: BrokerFrame[] = [];
  readonly status: Promise<grpc.StatusObject>;
  private ended = false;
  /** A half-open stream: the agent side has given up on it and sends nothing any more. */
  deaf = false;

  constructor(
    client: TunnelServiceClient,
    readonly instanceId: string,
    readonly epoch: number,
    private readonly probes = false,
  ) {
    this.call = client.connect(bearerMetadata(TOKEN));
    this.status = new Promise((resolve) => this.call.on('status', resolve));
    this.call.on('error', () => undefined);
    void this.status.then(() => (this.ended = true));
    this.call.on('data', (m: ConnectResponse) => {
      this.frames.push(...m.frames);
      const pongs: AgentFrame[] = m.frames.flatMap((f) => (f.frame?.$case === 'ping' ? [{ frame: { $case: 'pong', value: { nonce: f.frame.value.nonce } } }] : []));
      if (pongs.length > 0 && !this.deaf) this.send(pongs);
    });
    this.send([
      {
        frame: {
          $case: 'register',
          value: {
            protocolVersion: 1,
            agentVersion: 'harness',
            capabilities: this.probes ? [CAPABILITY_HEALTH_REPORT] : [],
            hostname: 'h',
            receiveWindow: 0,
            upstreamOverride: '',
            agentInstanceId: instanceId,
            connectionEpoch: epoch,
          },
        },
      },
    ]);
  }

  send(frames: AgentFrame[]): void {
    if (!this.ended) this.call.write({ frames });
  }

  reportHealth(healthy: boolean, models: string[], error = ''): void {
    this.send([{ frame: { $case: 'health', value: { healthy, models, error } } }]);
  }

  welcome(): Promise<Welcome> {
    return waitUntil('the Welcome', () => {
      const f = this.frames.find((x) => x.frame?.$case === 'welcome');
      return f?.frame?.$case === 'welcome' ? f.frame.value : undefined;
    });
  }

  /** True once the broker sent Drain. */
  get drained(): boolean {
    return this.frames.some((f) => f.frame?.$case === 'drain');
  }

  /** Half-closes its side, as st-agent does once a drained stream's answers are done. */
  halfClose(): void {
    this.call.end();
  }

  cancel(): void {
    this.call.cancel();
  }
}
