import type { Exchange, ExchangeOpener, ExchangeRequestHead, ExchangeSink, ExchangeTarget } from '@st/broker';
import type { PresenceEntry, PresenceView } from '@st/live-state';
import type { Logger } from '@st/logging';
import { TunnelError } from '@st/tunnel-protocol';
import type { BrokerChannelPool } from './broker-channel-pool';
import { type RouteHost, RoutedExchange } from './routed-exchange';
import { chooseStream } from './stream-choice';

/**
 * A broker an exchange could not reach is tried last for this long: longer than a presence lease
 * (10 s), so a killed broker's entries have expired before it can be tried first again, and each
 * exchange in between does not pay for a failed attempt (a dead pod's address may not even refuse).
 */
export const DEFAULT_SUSPECT_MS = 15_000;

export interface BrokerRouterOptions {
  /** Shared presence, cached and invalidated by the feed (PresenceView). */
  presence: Pick<PresenceView, 'entriesOf' | 'invalidate'>;
  /** Channels to the other brokers, by advertise address. */
  channels: Pick<BrokerChannelPool, 'acquire' | 'evict'>;
  /** The broker role of this process, when there is one: its streams are opened without a hop. */
  local?: ExchangeOpener & { readonly brokerId: string };
  /** Most request-body bytes kept to send again on a retry (ST_MAX_BODY). */
  replayLimitBytes: number;
  logger: Logger;
  suspectMs?: number;
  /** Milliseconds on a monotonic clock (specs). */
  now?: () => number;
  random?: () => number;
}

/**
 * The gateway's ExchangeOpener with shared presence (ST_REDIS_URL): each exchange goes to a live,
 * non-draining stream of its tunnel, on whichever broker holds it, preferring healthy and
 * least-loaded streams; one that fails before its answer began is retried once elsewhere
 * (routed-exchange.ts says exactly when). A tunnel with no stream in presence is answered 503
 * at once, without asking any broker.
 */
export class BrokerRouter implements ExchangeOpener, RouteHost {
  readonly logger: Logger;
  /** This gateway's open exchanges per broker id: presence's load lags by a lease refresh. */
  private readonly openByBroker = new Map<string, number>();
  /** Broker id → until when it counts as unreachable. */
  private readonly suspects = new Map<string, number>();
  private readonly suspectMs: number;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly options: BrokerRouterOptions) {
    this.logger = options.logger.child({ component: 'broker-router' });
    this.suspectMs = options.suspectMs ?? DEFAULT_SUSPECT_MS;
    this.now = options.now ?? (() => performance.now());
    this.random = options.random ?? Math.random;
  }

  open(target: ExchangeTarget, head: ExchangeRequestHead, sink: ExchangeSink): Exchange {
    const exchange = new RoutedExchange(this, target, head, sink, this.options.replayLimitBytes);
    exchange.start();
    return exchange;
  }

  /** Opens on the broker holding `entry`, counted in `openByBroker` until the exchange is over. */
  openOn(entry: PresenceEntry, target: ExchangeTarget, head: ExchangeRequestHead, sink: ExchangeSink): Exchange {
    const brokerId = entry.brokerId;
    // Acquired before counting: an address from Redis that grpc-js refuses throws here.
    const channel = this.isLocal(entry) ? undefined : this.options.channels.acquire(entry.advertiseAddress);
    this.openByBroker.set(brokerId, (this.openByBroker.get(brokerId) ?? 0) + 1);
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      const n = (this.openByBroker.get(brokerId) ?? 1) - 1;
      if (n > 0) this.openByBroker.set(brokerId, n);
      else this.openByBroker.delete(brokerId);
      channel?.release();
    };
    const counted: ExchangeSink = {
      head: (status, headers, body, done) => {
        if (done) end();
        sink.head(status, headers, body, done);
      },
      data: (chunk, done) => {
        if (done) end();
        sink.data(chunk, done);
      },
      error: (error) => {
        end();
        sink.error(error);
      },
    };
    const opener = channel?.opener ?? this.options.local!;
    const exchange = opener.open(target, head, counted);
    return {
      write: (chunk, done) => exchange.write(chunk, done),
      release: (bytes) => exchange.release(bytes),
      cancel: (reason) => {
        end();
        exchange.cancel(reason);
      },
    };
  }

  entriesOf(tunnelId: string): Promise<PresenceEntry[]> {
    return this.options.presence.entriesOf(tunnelId);
  }

  choose(entries: readonly PresenceEntry[], tried: ReadonlySet<string>, triedBrokers: ReadonlySet<string>): PresenceEntry | undefined {
    return chooseStream(entries, {
      openOn: (e) => this.openByBroker.get(e.brokerId) ?? 0,
      suspect: (e) => this.isSuspect(e.brokerId),
      local: (e) => this.isLocal(e),
      tried,
      triedBrokers,
      random: this.random,
    });
  }

  failed(entry: PresenceEntry, error: TunnelError): void {
    if (error.kind === 'broker_unavailable' || error.kind === 'no_agent' || error.kind === 'draining' || error.kind === 'stream_lost') {
      // What presence said about this tunnel just proved wrong or about to be: read it again.
      this.options.presence.invalidate(entry.tunnelId);
    }
    if (error.kind === 'broker_unavailable' && !this.isLocal(entry)) {
      this.suspects.set(entry.brokerId, this.now() + this.suspectMs);
      this.options.channels.evict(entry.advertiseAddress);
    }
  }

  reached(entry: PresenceEntry): void {
    this.suspects.delete(entry.brokerId);
  }

  explain(entry: PresenceEntry, error: TunnelError, answered: boolean): TunnelError {
    if (error.kind !== 'broker_unavailable') return error;
    // The relay's own wording points at ST_BROKER_ADDRESS, which a routing gateway does not use.
    const broker = `broker ${entry.brokerId} at ${entry.advertiseAddress}`;
    const message = answered
      ? `${broker}, which carried this answer, went away in the middle of it; the answer is incomplete: retry the request (other streams of tunnel ${entry.tunnelId} take it)`
      : `the gateway cannot reach ${broker}, which holds the agent stream of tunnel ${entry.tunnelId}, and the tunnel has no other stream to try: retry in a few seconds (its agent reconnects to another broker), or check that broker and its ST_ADVERTISE_ADDRESS`;
    return new TunnelError('broker_unavailable', message, { cause: error });
  }

  private isLocal(entry: PresenceEntry): boolean {
    return this.options.local !== undefined && entry.brokerId === this.options.local.brokerId;
  }

  private isSuspect(brokerId: string): boolean {
    const until = this.suspects.get(brokerId);
    if (until === undefined) return false;
    if (this.now() < until) return true;
    this.suspects.delete(brokerId);
    return false;
  }
}
