import type { Header } from '@st/proto';
import type { TunnelError } from '@st/tunnel-protocol';

/**
 * The exchange API between the gateway and the broker, the same whether the broker is in this
 * process (Broker) or behind gRPC (RemoteExchangeOpener). Plain types only: no raw streams or
 * generated stubs leak through it.
 */

/** The request's head, plus the start of its body. */
export interface ExchangeRequestHead {
  requestId: string;
  method: string;
  /** Path on the model server, beginning with /v1/. */
  path: string;
  /** Query string without "?", or "". */
  query: string;
  headers: Header[];
  /** The body, or its start when `end` is false (the rest comes through Exchange.write). */
  body: Uint8Array;
  end: boolean;
}

/** Who asks for which tunnel; the broker checks ownership again (defence in depth). */
export interface ExchangeTarget {
  tunnelId: string;
  userId: string;
  /**
   * The agent stream a gateway routing by presence chose (its connection id on the broker). A
   * preference only: when it is gone or draining the broker picks among the tunnel's other streams.
   */
  streamId?: string;
}

/**
 * Receives one exchange's answer. Exactly one of: head (then data until end) or error, and
 * error may also come after head (the answer broke off). Nothing is called after the end.
 */
export interface ExchangeSink {
  head(status: number, headers: Header[], body: Uint8Array, end: boolean): void;
  data(chunk: Uint8Array, end: boolean): void;
  error(error: TunnelError): void;
}

/** The caller's handle on an open exchange. */
export interface Exchange {
  /** Sends more request body; resolves when the sender may write again (flow control). */
  write(chunk: Uint8Array, end: boolean): Promise<void>;
  /**
   * The sink's consumer has finished with `bytes` of response body (written out and drained).
   * Until it says so the agent cannot send more than one window: this is the back-pressure.
   */
  release(bytes: number): void;
  /** Aborts the exchange: the agent aborts its upstream request, so the model stops generating. */
  cancel(reason: string): void;
}

/** Opens exchanges. Never throws: failures arrive at the sink (possibly before open returns). */
export interface ExchangeOpener {
  open(target: ExchangeTarget, head: ExchangeRequestHead, sink: ExchangeSink): Exchange;
}

/** An exchange that has already failed; its methods do nothing. */
export const CLOSED_EXCHANGE: Exchange = {
  write: () => Promise.resolve(),
  release: () => undefined,
  cancel: () => undefined,
};
