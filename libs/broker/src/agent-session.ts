import * as grpc from '@grpc/grpc-js';
import type { AgentFrame, BrokerFrame, Register } from '@st/proto';
import type { Logger } from '@st/logging';
import {
  DEFAULT_RECEIVE_WINDOW,
  FrameSender,
  GrowthBudget,
  MAX_FRAMES_PER_BATCH,
  MAX_RECEIVE_WINDOW,
  brokerFrameSize,
  STREAM_WINDOW_GROWTH_BYTES,
  TunnelError,
  errorFromExchangeCode,
  exchangeIdOf,
  isBrokerControlFrame,
  processGrowthBudget,
} from '@st/tunnel-protocol';
import type { AgentCall, SessionTunnel } from './agent-call';
import { acceptRegister, registeredLogFields } from './agent-registration';
import { type AgentSessionEvents, type AgentSessionOptions, sessionOptionsWithDefaults } from './agent-session-options';
import { type BoundedConnectRequest, MAX_FRAMES_PER_MESSAGE } from './bounded-connect-request';
import { BrokerExchange, type ExchangeStream } from './broker-exchange';
import type { BrokerMeter } from './broker-meter';
import type { Exchange, ExchangeRequestHead, ExchangeSink } from './exchange-api';
import { ExchangeIdAllocator } from './exchange-id-allocator';
import { resetServerCall } from './grpc-stream-reset';
import { type RateBreach, StreamRateLimits } from './stream-rate-limits';
import { REGISTER_FIRST_CUT, SILENT_AGENT_CUT, type StreamCut, overLimitCut, queueOverflowCut } from './stream-cuts';
import { StreamLiveness } from './stream-liveness';
import type { TunnelHealth } from './tunnel-health';

/** How long a probing agent's stream waits for its first health report before taking requests anyway. */
const FIRST_REPORT_WAIT_MS = 3_000;

export { DEFAULT_STREAM_QUEUE_LIMIT } from './agent-session-options';
export type { AgentSessionEvents, AgentSessionOptions } from './agent-session-options';

export type { AgentCall, SessionTunnel } from './agent-call';
export { HEALTH_BURST, HEALTH_RATE_PER_SECOND, PING_BURST, PING_RATE_PER_SECOND } from './stream-rate-limits';

/** After a cut with a status, how long a peer has to take it before its HTTP/2 stream is reset. */
const STATUS_GRACE_MS = 5_000;

/**
 * One connected agent stream: the only reader of the stream (one receive loop, switching on the
 * frame kind), the only writer (through a batching FrameSender), and the owner of the exchanges
 * multiplexed over it. Nothing slow runs in the receive loop: frames are handed to exchanges,
 * whose sinks only write to sockets.
 */
export class AgentSession implements ExchangeStream {
  readonly tunnel: SessionTunnel;
  readonly connectionId: string;
  /** When the broker admitted the stream. */
  readonly since = new Date();
  /** This stream's last health report (health is kept per stream: each may see its own upstream). */
  health: TunnelHealth | undefined;
  private readonly logger: Logger;
  private readonly exchanges = new Map<number, BrokerExchange>();
  private readonly ids = new ExchangeIdAllocator();
  private readonly sender: FrameSender<BrokerFrame>;
  private readonly events: AgentSessionEvents;
  private readonly options: Required<AgentSessionOptions>;
  private registered: Register | undefined;
  private readonly liveness: StreamLiveness;
  private draining = false;
  private closed = false;
  private ready = false;
  private readyTimer: NodeJS.Timeout | undefined;
  private readonly rates: StreamRateLimits;
  /** Set when the stream is cut because the agent does not read it: its status cannot get through. */
  private notReading = false;
  private warnedRegister = false;
  agentWindow = DEFAULT_RECEIVE_WINDOW;
  /** The agent's request-body window may grow to this (protocol 2; fixed at agentWindow before). */
  agentWindowLimit = DEFAULT_RECEIVE_WINDOW;
  /** Response-body windows grow while callers keep up, within this stream's budget (issue 9). */
  readonly brokerWindowLimit = MAX_RECEIVE_WINDOW;
  readonly growthBudget = new GrowthBudget(STREAM_WINDOW_GROWTH_BYTES, processGrowthBudget);

  constructor(
    private readonly call: AgentCall,
    tunnel: SessionTunnel,
    connectionId: string,
    options: AgentSessionOptions,
    logger: Logger,
    events: AgentSessionEvents,
  ) {
    this.tunnel = tunnel;
    this.connectionId = connectionId;
    this.logger = logger;
    this.events = events;
    this.options = sessionOptionsWithDefaults(options);
    this.rates = new StreamRateLimits(this.options.healthIntervalMs);
    this.liveness = new StreamLiveness(
      {
        sendPing: (nonce) => this.send({ frame: { $case: 'ping', value: { nonce } } }),
        sendPong: (nonce) => this.send({ frame: { $case: 'pong', value: { nonce } } }),
        beforeFlush: (produce) => this.sender.beforeFlush(produce),
        silent: () => this.cut(SILENT_AGENT_CUT),
      },
      this.options.pingIntervalMs,
    );
    this.sender = new FrameSender<BrokerFrame>(
      {
        writeBatch: (frames, written) => this.call.write({ frames }, () => written()),
        onceDrain: (listener) => this.call.once('drain', listener),
      },
      brokerFrameSize,
      {
        isControl: isBrokerControlFrame,
        queueLimitBytes: this.options.streamQueueLimitBytes,
        onOverflow: (held) => this.onQueueOverflow(held),
      },
    );
    this.call.on('data', (message: BoundedConnectRequest) => {
      this.liveness.heard();
      if (message.oversized) {
        this.overLimit(`${MAX_FRAMES_PER_MESSAGE} frames in one message`, 'frames', `st-agent sends at most ${MAX_FRAMES_PER_BATCH} per message`);
        return;
      }
      for (const frame of message.frames) {
        // A stream cut over a limit stops here: the rest of a message of millions of frames
        // must not keep the event loop.
        if (this.closed) break;
        try {
          this.dispatch(frame);
        } catch (err) {
          // A bug in one exchange's handling must not take the stream (and everyone's answers) down.
          this.failFrame(frame, err);
        }
      }
    });
    this.call.on('end', () => this.close('the agent closed its stream'));
    this.call.on('error', (err: Error) => this.close(`the agent's stream failed: ${err.message}`));
    this.call.on('close', () => this.close('the agent disconnected'));
    // grpc-js reports a peer that vanished (RST_STREAM, dead connection) only as 'cancelled'.
    this.call.on('cancelled', () => this.close('the agent connection was lost'));
  }

  get meter(): BrokerMeter {
    return this.options.meter;
  }

  get brokerWindow(): number {
    return this.options.receiveWindow;
  }

  get maxChunkBytes(): number {
    return this.options.maxChunkBytes;
  }

  /** Open exchanges: the load used to choose between several streams of one tunnel. */
  get load(): number {
    return this.exchanges.size;
  }

  /** True while new exchanges may be routed here. */
  get available(): boolean {
    return this.ready && !this.draining && !this.closed;
  }

  /** From Register: st-agent's version, its process's id ('' from older agents), and this stream's number among that process's streams (0 from older agents). */
  get agentVersion(): string { return this.registered?.agentVersion ?? ''; }
  get agentInstanceId(): string { return this.registered?.agentInstanceId ?? ''; }
  get connectionEpoch(): number { return Number(this.registered?.connectionEpoch ?? 0); }

  /** True once the broker or the agent said this stream is draining. */
  get isDraining(): boolean {
    return this.draining;
  }

  open(head: ExchangeRequestHead, sink: ExchangeSink): Exchange {
    const id = this.ids.allocate((candidate) => this.exchanges.has(candidate));
    const exchange = new BrokerExchange(id, this, sink);
    this.exchanges.set(id, exchange);
    exchange.start(head);
    return exchange;
  }

  send(frame: BrokerFrame): void {
    this.sender.send(frame);
  }

  /** False while the agent's stream does not drain (request bodies wait; see BrokerExchange.write). */
  get writable(): boolean {
    return this.sender.writable;
  }

  whenWritable(): Promise<void> {
    return this.sender.whenWritable();
  }

  /**
   * Cancel goes ahead of queued data (a control frame), so the exchange's own queued frames are
   * dropped here rather than sent after it; when its Open was still queued the agent never heard
   * of the exchange and needs no Cancel.
   */
  cancelExchange(id: number, reason: string): void {
    if (this.closed) return;
    const dropped = this.sender.pending > 0 ? this.sender.dropQueued((f) => exchangeIdOf(f) === id) : [];
    if (dropped.some((f) => f.frame?.$case === 'open')) return;
    this.send({ frame: { $case: 'cancel', value: { exchangeId: id, reason } } });
  }

  /** Bytes queued or written towards the agent and not yet passed to its socket (tests, metrics). */
  get heldBytes(): number {
    return this.sender.pendingBytes + this.sender.inFlightBytes;
  }

  remove(id: number): void {
    this.exchanges.delete(id);
  }

  /** Routes nothing new here, without telling the agent (it replaced this stream itself). */
  stopRouting(): void {
    this.draining = true;
  }

  /**
   * Pings the agent and resolves true as soon as anything arrives from it, false when nothing
   * did within `timeoutMs` (a half-open stream) or the stream closed.
   */
  probe(timeoutMs: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    return this.liveness.probe(timeoutMs);
  }

  /** Asks the agent to reconnect (broker shutting down); no new exchanges are routed here. */
  drain(reason: string): void {
    if (this.closed) return;
    this.draining = true;
    this.send({ frame: { $case: 'drain', value: { reason } } });
  }

  /**
   * Ends the stream and fails every exchange on it, so that no caller waits for an answer that
   * cannot come (konnectivity leaked exactly these).
   */
  close(reason: string, status?: { code: grpc.status; details: string }, exchangeMessage?: string): void {
    if (this.closed) return;
    this.closed = true;
    this.liveness.stop();
    if (this.readyTimer) clearTimeout(this.readyTimer);
    const lost = [...this.exchanges.values()];
    this.exchanges.clear();
    const message =
      exchangeMessage ?? `the agent of tunnel ${this.tunnel.id} disconnected in the middle of the answer (${reason}); the request was not completed`;
    for (const exchange of lost) exchange.fail(new TunnelError('stream_lost', message));
    const stuck = this.sender.inFlightBytes > 0;
    this.sender.close();
    this.logger.info({ reason, failedExchanges: lost.length }, 'agent stream closed');
    this.events.closed(this);
    try {
      if (status) this.call.emit('error', status);
      else this.call.end();
    } catch {
      // The call may already be gone; there is nothing left to tell the agent.
    }
    if (!stuck) return;
    // grpc-js ends the call only once every queued message was written: a peer that does not
    // read would hold the call and its buffers for ever. A stream cut for not reading is reset
    // at once; any other gets a grace period to take its status first.
    if (this.notReading) resetServerCall(this.call);
    else setTimeout(() => resetServerCall(this.call), STATUS_GRACE_MS).unref();
  }

  /** False once the stream is closed. */
  get isOpen(): boolean {
    return !this.closed;
  }

  private dispatch(frame: AgentFrame): void {
    // Frames already decoded when the stream was closed must not revive anything (health of a
    // deleted tunnel, a registry entry).
    if (this.closed) return;
    const f = frame.frame;
    if (!f) return; // An unknown frame kind from a newer agent: ignore it (see tunnel.proto).
    if (!this.registered) {
      if (f.$case !== 'register') {
        this.cut(REGISTER_FIRST_CUT);
        return;
      }
      this.onRegister(f.value);
      return;
    }
    switch (f.$case) {
      case 'head':
        this.exchanges.get(f.value.exchangeId)?.onHead(f.value);
        break;
      case 'data':
        this.exchanges.get(f.value.exchangeId)?.onData(f.value);
        break;
      case 'error':
        this.exchanges.get(f.value.exchangeId)?.fail(errorFromExchangeCode(f.value.code, f.value.message));
        break;
      case 'credit':
        this.exchanges.get(f.value.exchangeId)?.onCredit(f.value.bytes);
        break;
      case 'ping':
        this.onPing(f.value.nonce);
        break;
      case 'pong':
        break; // lastHeard was updated on receipt
      case 'draining':
        if (this.draining) break;
        this.draining = true;
        this.logger.info({ graceMs: f.value.graceMs, openExchanges: this.exchanges.size }, 'agent is draining; no new exchanges go to it');
        if (this.ready) this.events.draining?.(this);
        break;
      case 'health': {
        const breach = this.rates.takeHealth();
        if (breach) {
          this.overRate(breach);
          break;
        }
        this.events.health(this, f.value);
        this.markReady();
        break;
      }
      case 'register':
        // Logged once: a peer repeating it thousands of times a message must not flood the log.
        if (!this.warnedRegister) this.logger.warn('agent sent Register twice; ignored');
        this.warnedRegister = true;
        break;
    }
  }

  /** An agent's Ping, within its rate: one Pong is owed (see StreamLiveness.owePong). */
  private onPing(nonce: number): void {
    const breach = this.rates.takePing();
    if (breach) {
      this.overRate(breach);
      return;
    }
    this.liveness.owePong(nonce);
  }

  private overRate(breach: RateBreach): void {
    this.overLimit(breach.limit, breach.what, 'per stream');
  }

  /** Cuts a peer over one of the stream's limits, saying which (log line and status). */
  private overLimit(limit: string, what: string, context: string): void {
    this.options.meter.refused(what === 'frames' ? 'frames_per_message' : what === 'Ping frames' ? 'ping_rate' : 'health_rate');
    this.cut(overLimitCut(limit, what, context), { limit });
  }

  private onQueueOverflow(held: number): void {
    if (this.closed) return;
    this.notReading = true;
    this.options.meter.refused('stream_queue');
    const limit = this.options.streamQueueLimitBytes;
    this.cut(queueOverflowCut(limit, this.tunnel.id), { limit, setting: 'ST_STREAM_QUEUE_LIMIT', heldBytes: held, openExchanges: this.exchanges.size });
  }

  private cut(c: StreamCut, fields?: Record<string, unknown>): void {
    if (c.warning) this.logger.warn(fields ?? {}, c.warning);
    this.close(c.reason, c.status, c.exchangeMessage);
  }

  private markReady(): void {
    if (this.ready || this.closed) return;
    this.ready = true;
    if (this.readyTimer) clearTimeout(this.readyTimer);
    this.events.ready(this);
  }

  private failFrame(frame: AgentFrame, err: unknown): void {
    const f = frame.frame;
    const id = f && 'exchangeId' in f.value ? f.value.exchangeId : undefined;
    this.logger.error({ err, exchangeId: id, frame: f?.$case }, 'handling an agent frame failed');
    if (id === undefined) return;
    const exchange = this.exchanges.get(id);
    if (!exchange) return;
    exchange.fail(new TunnelError('internal', 'the broker failed to relay the answer; see its log'));
    this.send({ frame: { $case: 'cancel', value: { exchangeId: id, reason: 'broker error' } } });
  }

  /** Welcomes the agent, starts the pings, and makes the stream routable now or with its first report. */
  private onRegister(register: Register): void {
    this.registered = register;
    const registration = acceptRegister(register, this.tunnel, this.options);
    this.agentWindow = registration.agentWindow;
    this.agentWindowLimit = registration.agentWindowLimit;
    this.send({ frame: { $case: 'welcome', value: registration.welcome } });
    this.logger.info(registeredLogFields(register, this.tunnel), 'agent registered');
    this.liveness.start();
    this.events.registered?.(this);
    if (registration.routableAtOnce) this.markReady();
    else this.readyTimer = setTimeout(() => this.markReady(), FIRST_REPORT_WAIT_MS).unref();
  }
}
