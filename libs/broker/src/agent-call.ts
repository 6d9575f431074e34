import type * as grpc from '@grpc/grpc-js';
import type { ConnectResponse } from '@st/proto';

/**
 * The agent's Connect call as the broker uses it: grpc-js's ServerDuplexStream, or the light
 * HTTP/2 stack's LightServerCall (libs/grpc-kit/src/h2), which has the same shape.
 */
export interface AgentCall {
  readonly metadata: grpc.Metadata;
  getPeer(): string;
  write(message: ConnectResponse, callback?: (error?: Error | null) => void): boolean;
  end(): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the events differ in arguments, as on a Duplex
  on(event: string, listener: (...args: any[]) => void): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  once(event: string, listener: (...args: any[]) => void): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  emit(event: string, ...args: any[]): boolean;
}

/** What the broker knows about the tunnel an agent serves (from its token). */
export interface SessionTunnel {
  id: string;
  userId: string;
  upstreamUrl: string;
  upstreamApiKey: string;
  /** A plain HTTP tunnel: the agent forwards any path. */
  plainHttp: boolean;
}
