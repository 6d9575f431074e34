export { GrpcServerHost } from './grpc-server-host';
export type { GrpcServerHostOptions } from './grpc-server-host';
export { ReflectionServer } from './reflection';
export {
  CLIENT_KEEPALIVE_OPTIONS,
  CLIENT_KEEPALIVE_TIME_MS,
  CLIENT_KEEPALIVE_TIMEOUT_MS,
  SERVER_KEEPALIVE_OPTIONS,
  SERVER_MIN_PING_INTERVAL_MS,
  MESSAGE_SIZE_OPTIONS,
  SERVER_MAX_RECEIVE_MESSAGE_BYTES,
} from './channel-options';
export { bearerFromMetadata, bearerMetadata, bearerSecret } from './bearer-metadata';
export { openLightCall, type LightCallHandle, type LightCallOptions, type LightClientTarget } from './light-grpc-client';
export type { LightClientCall, LightServiceError } from './h2/grpc-light-client-call';
export {
  CLIENT_FLOW_CONTROL_OPTIONS,
  RELAY_FLOW_CONTROL_OPTIONS,
  SERVER_CONNECTION_WINDOW_BYTES,
  SERVER_STREAM_WINDOW_BYTES,
  UNADMITTED_STREAM_WINDOW_BYTES,
} from './http2-windows';
export type { PeerCall } from './session-windows';
