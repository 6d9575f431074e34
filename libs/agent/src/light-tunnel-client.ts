import type * as grpc from '@grpc/grpc-js';
import { type LightCallHandle, openLightCall } from '@st/grpc-kit';
import type { Logger } from '@st/logging';
import type { ConnectRequest, ConnectResponse } from '@st/proto';
import { FAST_TUNNEL_SERVICE } from '@st/tunnel-protocol';
import type { BrokerTarget } from './broker-credentials';
import type { TunnelCall, TunnelConnectClient } from './tunnel-call';

/**
 * TunnelService/Connect on st-agent's own light HTTP/2 client (grpc-kit's openLightCall) instead
 * of grpc-js: the agent's side of a tunnel cost 6.8 ms of CPU per MB against ssh -R's 1.9, most of
 * it nghttp2 and grpc-js (issue 9). Same wire (gRPC over HTTP/2), same codec, one connection per
 * stream as AgentSupervisor wants. ST_AGENT_LIGHT_CLIENT=false goes back to grpc-js; through an
 * HTTPS proxy the agent always uses grpc-js, which does the CONNECT.
 */
export class LightTunnelClient implements TunnelConnectClient {
  private handle: LightCallHandle<ConnectRequest, ConnectResponse> | undefined;

  constructor(
    private readonly broker: BrokerTarget,
    private readonly agentVersion: string,
    private readonly logger: Logger,
  ) {}

  connect(metadata: grpc.Metadata): TunnelCall {
    const method = FAST_TUNNEL_SERVICE.connect;
    this.handle = openLightCall({
      target: { host: this.broker.host, port: this.broker.port, tls: this.broker.tls ? { ca: this.broker.ca } : undefined, authority: this.broker.address },
      path: method.path,
      metadata,
      codec: { serialize: method.requestSerialize, deserialize: method.responseDeserialize },
      userAgent: `st-agent/${this.agentVersion} (light HTTP/2)`,
      logger: this.logger,
    });
    return this.handle.call;
  }

  close(): void {
    this.handle?.close();
  }
}
