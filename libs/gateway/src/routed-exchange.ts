import type { Exchange, ExchangeRequestHead, ExchangeSink, ExchangeTarget } from '@st/broker';
import type { PresenceEntry } from '@st/live-state';
import type { Logger } from '@st/logging';
import type { Header } from '@st/proto';
import { TunnelError, type TunnelErrorKind } from '@st/tunnel-protocol';
import { BodyReplay } from './body-replay';
import { streamKey } from './stream-choice';

/** One first try and one retry: a second broker failing too is not a blip, and the caller should know. */
const MAX_ATTEMPTS = 2;
/** How long an exchange waits for the replacement of a tunnel whose every stream drains. */
const REPLACEMENT_WAIT_MS = 2_000;
const REPLACEMENT_POLL_MS = 50;
const EMPTY = new Uint8Array(0);

/**
 * Failures that say the stream or its broker went away, not that the request itself failed:
 * the broker is unreachable or dropped the call (broker_unavailable), the stream presence named is
 * gone (no_agent) or draining, or it was cut before the answer began (stream_lost: a broker or
 * agent stream lost mid-request, a stream replaced). A model server that refuses, resets
 * (upstream_reset, reported by the agent) or times out would do the same on every stream, and a
 * request that crashes it must not be sent twice, so those are not retried.
 */
const RETRYABLE_KINDS: ReadonlySet<TunnelErrorKind> = new Set(['broker_unavailable', 'no_agent', 'draining', 'stream_lost']);

/** What a routed exchange needs from the router: presence, the choice, and the brokers. */
export interface RouteHost {
  readonly logger: Logger;
  entriesOf(tunnelId: string): Promise<PresenceEntry[]>;
  choose(entries: readonly PresenceEntry[], tried: ReadonlySet<string>, triedBrokers: ReadonlySet<string>): PresenceEntry | undefined;
  /** Opens the exchange on the broker holding `entry` (in this process or over RelayService). */
  openOn(entry: PresenceEntry, target: ExchangeTarget, head: ExchangeRequestHead, sink: ExchangeSink): Exchange;
  /** An attempt failed with `error`: presence and the broker's standing are updated. */
  failed(entry: PresenceEntry, error: TunnelError): void;
  /** An attempt on `entry` got its answer's head: the broker is reachable. */
  reached(entry: PresenceEntry): void;
  /** The error the caller sees for a failed attempt (names the broker when it was unreachable). */
  explain(entry: PresenceEntry, error: TunnelError, answered: boolean): TunnelError;
}

interface Attempt {
  entry: PresenceEntry;
  exchange: Exchange | undefined;
  failed: boolean;
}

/**
 * One exchange routed by presence: the stream is chosen when it opens, and an attempt that fails
 * before the answer began (see `mayRetry`) is retried once on another stream, preferably on
 * another broker, with the request body sent again from memory.
 */
export class RoutedExchange implements Exchange {
  private attempt: Attempt | undefined;
  private attempts = 0;
  /** A response head reached the caller's sink: from here on nothing is retried. */
  private answered = false;
  /** The caller's sink saw the end or an error, or the caller cancelled. */
  private over = false;
  private readonly tried = new Set<string>();
  private readonly triedBrokers = new Set<string>();
  private readonly body: BodyReplay;

  constructor(
    private readonly host: RouteHost,
    private readonly target: ExchangeTarget,
    private head: ExchangeRequestHead,
    private readonly sink: ExchangeSink,
    replayLimitBytes: number,
  ) {
    this.body = new BodyReplay(replayLimitBytes, head.body.length);
  }

  start(): void {
    // route() catches its own failures; this is the last guard, so no rejection escapes the gateway.
    this.route(undefined).catch((err: unknown) => {
      this.host.logger.error({ err, tunnelId: this.target.tunnelId }, 'routing an exchange failed');
      if (!this.over) this.fail(new TunnelError('internal', `routing the request to tunnel ${this.target.tunnelId} failed; retry it`));
    });
  }

  write(chunk: Uint8Array, end: boolean): Promise<void> {
    return this.body.write(chunk, end);
  }

  release(bytes: number): void {
    this.attempt?.exchange?.release(bytes);
  }

  cancel(reason: string): void {
    if (this.over) return;
    this.over = true;
    this.body.close();
    this.attempt?.exchange?.cancel(reason);
  }

  /**
   * The retry rule. An attempt that failed is tried again on another stream only when all hold:
   * - it is the first attempt (one retry at most);
   * - no response head reached the caller (never after a head: the answer has begun, and a
   *   second one cannot be spliced in; mid-answer failures end as an error event as always);
   * - the caller did not cancel;
   * - the failure says the stream or broker is gone (RETRYABLE_KINDS);
   * - the request body can be sent again: it all travelled in the head, or every byte written
   *   since is still held (BodyReplay, bounded by ST_MAX_BODY).
   */
  private mayRetry(error: TunnelError): boolean {
    return this.attempts < MAX_ATTEMPTS && !this.answered && !this.over && RETRYABLE_KINDS.has(error.kind) && this.body.replayable;
  }

  private async route(previous: { entry: PresenceEntry; error: TunnelError } | undefined): Promise<void> {
    let entries: PresenceEntry[];
    try {
      entries = await this.host.entriesOf(this.target.tunnelId);
    } catch (err) {
      // PresenceView answers from its cache when Redis is down; this is only a fault of its own.
      this.host.logger.error({ err, tunnelId: this.target.tunnelId }, 'reading presence failed');
      entries = [];
    }
    if (this.over) return;
    let entry = this.host.choose(entries, this.tried, this.triedBrokers);
    // Only draining streams: st-agent opens a replacement before it lets a stream drain, and the
    // replacement becomes routable with its first health report, moments later. Waiting for it
    // (bounded) turns that gap into a short delay instead of a 503 for every request in it.
    for (const waitUntil = performance.now() + REPLACEMENT_WAIT_MS; !entry && entries.some((e) => e.draining) && performance.now() < waitUntil; ) {
      await new Promise((r) => setTimeout(r, REPLACEMENT_POLL_MS));
      if (this.over) return;
      entries = await this.host.entriesOf(this.target.tunnelId).catch(() => entries);
      entry = this.host.choose(entries, this.tried, this.triedBrokers);
    }
    if (!entry) {
      this.fail(previous ? this.host.explain(previous.entry, previous.error, false) : noStreamError(this.target.tunnelId, entries));
      return;
    }
    this.tried.add(streamKey(entry));
    this.triedBrokers.add(entry.brokerId);
    this.attempts++;
    const attempt: Attempt = { entry, exchange: undefined, failed: false };
    this.attempt = attempt;
    // The sink may be called before openOn returns (an opener that fails at once).
    let exchange: Exchange;
    try {
      exchange = this.host.openOn(entry, { ...this.target, streamId: entry.streamId }, this.head, this.attemptSink(attempt));
    } catch (err) {
      // Nothing reached the broker (its advertised address could not even be dialled): as unreachable.
      this.host.logger.warn({ err: (err as Error).message, brokerId: entry.brokerId, address: entry.advertiseAddress }, 'opening an exchange on a broker failed');
      this.attemptSink(attempt).error(new TunnelError('broker_unavailable', `broker ${entry.brokerId} at ${entry.advertiseAddress} cannot be dialled: ${(err as Error).message}`));
      return;
    }
    attempt.exchange = exchange;
    if (!attempt.failed && this.attempt === attempt && !this.over) this.body.switchTo(exchange);
  }

  private attemptSink(attempt: Attempt): ExchangeSink {
    const current = () => this.attempt === attempt && !attempt.failed && !this.over;
    return {
      head: (status: number, headers: Header[], body: Uint8Array, end: boolean) => {
        if (!current()) return;
        this.answered = true;
        this.body.stopKeeping();
        // Nothing is retried from here on: the request body need not live as long as the answer.
        if (this.head.body.length > 0) this.head = { ...this.head, body: EMPTY };
        this.host.reached(attempt.entry);
        if (end) this.finish();
        this.sink.head(status, headers, body, end);
      },
      data: (chunk: Uint8Array, end: boolean) => {
        if (!current()) return;
        if (end) this.finish();
        this.sink.data(chunk, end);
      },
      error: (error: TunnelError) => {
        if (!current()) return;
        attempt.failed = true;
        this.host.failed(attempt.entry, error);
        if (this.mayRetry(error)) {
          this.host.logger.info(
            { tunnelId: this.target.tunnelId, requestId: this.head.requestId, brokerId: attempt.entry.brokerId, kind: error.kind },
            'exchange failed before its answer began: retrying on another stream',
          );
          void this.route({ entry: attempt.entry, error });
          return;
        }
        this.fail(this.host.explain(attempt.entry, error, this.answered));
      },
    };
  }

  private finish(): void {
    this.over = true;
    this.body.close();
  }

  private fail(error: TunnelError): void {
    this.finish();
    this.sink.error(error);
  }
}

/** The answer when presence offers no stream to try: none at all, or only draining ones. */
export function noStreamError(tunnelId: string, entries: readonly PresenceEntry[]): TunnelError {
  if (entries.length > 0 && entries.every((e) => e.draining)) {
    return new TunnelError(
      'draining',
      `the agent of tunnel ${tunnelId} is stopping and takes no new requests: retry once it is back (systemd restarts it, or start st-agent again)`,
    );
  }
  return new TunnelError(
    'no_agent',
    `tunnel ${tunnelId} has no connected agent: start st-agent in the session (or check its logs: token, broker address, network)`,
  );
}
