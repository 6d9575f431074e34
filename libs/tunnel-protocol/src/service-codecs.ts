import { makeGenericClientConstructor } from '@grpc/grpc-js';
import { RelayServiceClient, RelayServiceService, TunnelServiceClient, TunnelServiceService } from '@st/proto';
import { decodeConnectRequest, decodeConnectResponse } from './frame-decoder';
import { decodeExchangeRequest, decodeExchangeResponse } from './relay-decoder';
import { encodeConnectRequest, encodeConnectResponse } from './frame-encoder';
import { encodeExchangeRequest, encodeExchangeResponse } from './relay-encoder';

/*
 * The generated service definitions with the tunnel's own codec (frame-encoder.ts,
 * frame-decoder.ts) as their serialisers. The bytes are ts-proto's, so either end may use the
 * generated definitions instead (an older agent, grpcurl, a test's fake broker): nothing on the
 * wire tells them apart.
 */

/** sessiontunnel.v1.TunnelService (agent ↔ broker). */
export const FAST_TUNNEL_SERVICE = {
  connect: {
    ...TunnelServiceService.connect,
    requestSerialize: encodeConnectRequest,
    requestDeserialize: decodeConnectRequest,
    responseSerialize: encodeConnectResponse,
    responseDeserialize: decodeConnectResponse,
  },
} as const;

/** sessiontunnel.v1.RelayService (gateway ↔ broker, split layout). */
export const FAST_RELAY_SERVICE = {
  exchange: {
    ...RelayServiceService.exchange,
    requestSerialize: encodeExchangeRequest,
    requestDeserialize: decodeExchangeRequest,
    responseSerialize: encodeExchangeResponse,
    responseDeserialize: decodeExchangeResponse,
  },
} as const;

/** TunnelServiceClient with the fast codec; same constructor and methods. */
export const FastTunnelServiceClient = makeGenericClientConstructor(FAST_TUNNEL_SERVICE, 'sessiontunnel.v1.TunnelService') as unknown as typeof TunnelServiceClient;

/** RelayServiceClient with the fast codec; same constructor and methods. */
export const FastRelayServiceClient = makeGenericClientConstructor(FAST_RELAY_SERVICE, 'sessiontunnel.v1.RelayService') as unknown as typeof RelayServiceClient;
