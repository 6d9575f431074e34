import type { Server, ServerResponse } from 'node:http';
import type { ExchangeSink } from '@st/broker';
import type { TunnelError } from '@st/tunnel-protocol';

/**
 * What the gateway tells its metrics. With metrics off it is {@link NO_GATEWAY_METER}: empty
 * methods, no registry, nothing allocated per request. (gateway-metrics.ts is the real one.)
 */
export interface GatewayMeter {
  /**
   * A request to the OpenAI face began (`url` as received); it is counted when its response
   * closes. The handle goes with the request to plain() and sink(): kept by the caller, not
   * stored on the response (a property added to every ServerResponse was a keyed store and a
   * keyed load per request in callgrind of st-server).
   */
  request(url: string, res: ServerResponse): MeteredRequest;
  /** The request turned out to go to a plain HTTP tunnel: counted as `plain` whatever its path. */
  plain(request: MeteredRequest): void;
  /** The sink the exchange writes its answer to: `responder` itself, or one that also times it. */
  sink(request: MeteredRequest, responder: ExchangeSink): ExchangeSink;
  /** The gateway answered `error` itself (before any exchange): counted when it is a limit's. */
  rejected(error: TunnelError): void;
  /** Counts what the HTTP server itself refuses (connections over ST_MAX_CONNECTIONS). */
  watch(server: Server): void;
  /** The gateway answered `status` to what never became a request (slow headers' 408, a malformed request's 400, …). */
  protocolError(status: number): void;
}

/** What request() made for one request (undefined when nothing is metered): opaque to the gateway. */
export type MeteredRequest = object | undefined;

export const NO_GATEWAY_METER: GatewayMeter = {
  request: () => undefined,
  plain: () => undefined,
  sink: (_request, responder) => responder,
  rejected: () => undefined,
  watch: () => undefined,
  protocolError: () => undefined,
};
