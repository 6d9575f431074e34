import type * as grpc from '@grpc/grpc-js';
import type { ConnectRequest } from '@st/proto';

/* eslint-disable @typescript-eslint/no-explicit-any -- the shape of EventEmitter's listeners, which grpc-js's streams declare so */

/**
 * What AgentConnection uses of its TunnelService/Connect call: grpc-js's ClientDuplexStream, or
 * the light client's call (grpc-kit's LightClientCall), which has the same events and methods.
 */
export interface TunnelCall {
  write(message: ConnectRequest, callback?: (error?: Error | null) => void): boolean;
  end(): void;
  cancel(): void;
  on(event: string, listener: (...args: any[]) => void): unknown;
  once(event: string, listener: (...args: any[]) => void): unknown;
}

/** What opens the call: a grpc-js TunnelServiceClient, or LightTunnelClient. */
export interface TunnelConnectClient {
  connect(metadata: grpc.Metadata): TunnelCall;
  close(): void;
}
