import * as grpc from '@grpc/grpc-js';
import type { AgentFrame, BrokerFrame, ConnectRequest, ConnectResponse, HealthReport, Register } from '@st/proto';
import type { Logger } from '@st/logging';
import {
  CAPABILITY_HEALTH_REPORT,
  DEFAULT_HEALTH_INTERVAL_MS,
  DEFAULT_MAX_CHUNK_BYTES,
  DEFAULT_PING_INTERVAL_MS,
  DEFAULT_RECEIVE_WINDOW,
  FrameSender,
  GrowthBudget,
  MAX_FRAMES_PER_BATCH,
  MAX_RECEIVE_WINDOW,
  brokerFrameSize,
  PROTOCOL_VERSION,
  STREAM_WINDOW_GROWTH_BYTES,
  TunnelError,
  errorFromExchangeCode,
  exchangeIdOf,
  isBrokerControlFrame,
  processGrowthBudget,
  windowLimitFor,
} from '@st/tunnel-protocol';
import { type BoundedConnectRequest, MAX_FRAMES_PER_MESSAGE } from './bounded-connect-request';
import { BrokerExchange, type ExchangeStream } from './broker-exchange';
import { type BrokerMeter, NO_BROKER_METER } from './broker-meter';
import type { Exchange, ExchangeRequestHead, ExchangeSink } from './exchange-api';
import { ExchangeIdAllocator } from './exchange-id-allocator';
import { resetServerCall } from './grpc-stream-reset';
import { TokenBucket } from './token-bucket';
import type { TunnelHealth } from './tunnel-health';

/** How long a probing agent's stream waits for its first health report before taking requests anyway. */
const FIRST_REPORT_WAIT_MS = 3_000;

/** Default of ST_STREAM_QUEUE_LIMIT: bytes the broker holds towards one agent stream before cutting it. */
export const DEFAULT_STREAM_QUEUE_LIMIT = 8 * 1024 * 1024;

/**
 * Pings an agent may send: st-agent sends none (it only answers ours), so this is room for other
 * implementations, not a budget to tune. HealthReports come every health interval; the bucket
 * allows several times that rate (see healthBucket).
 */
export const PING_RATE_PER_SECOND = 10;
export const PING_BURST = 50;
export const HEALTH_RATE_PER_SECOND = 10;
export const HEALTH_BURST = 50;

/** After a cut with a status, how long a peer has to take it before its HTTP/2 stream is reset. */
const STATUS_GRACE_MS = 5_000;

export type AgentCall = grpc.ServerDuplexStream<ConnectRequest, ConnectResponse>;

/** What the broker knows about the tunnel an agent serves (from its token). */
export interface SessionTunnel {
  id: string;
  userId: string;
  upstreamUrl: string;
  upstreamApiKey: string;
  /** A plain HTTP tunnel: the agent forwards any path. */
  plainHttp: boolean;
}

/** How an AgentSession tells its owner about itself. */
export interface AgentSessionEvents {
  /** Register arrived and Welcome went out: the stream takes exchanges. */
  ready(session: AgentSession): void;
  /** The stream is gone. */
  closed(session: AgentSession): void;
  /** The agent reported its model server's health. */
  health(session: AgentSession, report: HealthReport): void;
  /** The agent is stopping (Draining): the stream takes no new exchanges any more. */
  draining?(session: AgentSession): void;
  /** Register arrived (its agent instance id and epoch are known); Welcome went out. */
  registered?(session: AgentSession): void;
}

export interface AgentSessionOptions {
  brokerId: string;
  /** How often agents probe their model server (Welcome.health_interval_ms). */
  healthIntervalMs?: number;
  /** Bytes of response body the agent may send per exchange before waiting for credit. */
  receiveWindow?: number;
  maxChunkBytes?: number;
  pingIntervalMs?: number;
  /** ST_STREAM_QUEUE_LIMIT: queued plus unsent bytes towards the agent before the stream is cut. */
  streamQueueLimitBytes?: number;
  /** Distinct brokers live now, this one included (Welcome.live_brokers); 1 when brokers share nothing. */
  liveBrokers?: () => number;
  /** Prometheus metrics (credit stalls, limit refusals); none when absent. */
  meter?: BrokerMeter;
}

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
  private pingTimer: NodeJS.Timeout | undefined;
  private lastHeard = Date.now();
  private pingNonce = 0;
  private draining = false;
  private closed = false;
  private ready = false;
  private readyTimer: NodeJS.Timeout | undefined;
  /** The newest nonce of the Pings not answered yet; one Pong answers them all (see onPing). */
  private owedPong = 0;
  private pongQueued = false;
  private readonly pingBucket = new TokenBucket(PING_RATE_PER_SECOND, PING_BURST);
  private readonly healthBucket: TokenBucket;
  /** Set when the stream is cut because the agent does not read it: its status cannot get through. */
  private notReading = false;
  private warnedRegister = false;
  /** Resolved with true by the next frame from the agent (see probe). */
  private probeWaiter: ((heard: boolean) => void) | undefined;
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
    this.options = {
      brokerId: options.brokerId,
      healthIntervalMs: options.healthIntervalMs ?? DEFAULT_HEALTH_INTERVAL_MS,
      receiveWindow: options.receiveWindow ?? DEFAULT_RECEIVE_WINDOW,
      maxChunkBytes: options.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES,
      pingIntervalMs: options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS,
      streamQueueLimitBytes: options.streamQueueLimitBytes ?? DEFAULT_STREAM_QUEUE_LIMIT,
      liveBrokers: options.liveBrokers ?? (() => 1),
      meter: options.meter ?? NO_BROKER_METER,
    };
    // A short health interval (tests use 300 ms) must stay well inside the limit.
    const healthRate = Math.max(HEALTH_RATE_PER_SECOND, (4 * 1000) / Math.max(1, this.options.healthIntervalMs));
    this.healthBucket = new TokenBucket(healthRate, Math.max(HEALTH_BURST, healthRate * 5));
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
      this.lastHeard = Date.now();
      this.probeWaiter?.(true);
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

  get agentVersion(): string {
    return this.registered?.agentVersion ?? '';
  }

  /** The st-agent process's id from Register ('' from agents before it was added). */
  get agentInstanceId(): string {
    return this.registered?.agentInstanceId ?? '';
  }

  /** The stream's number among its agent process's streams (0 from older agents). */
  get connectionEpoch(): number {
    return Number(this.registered?.connectionEpoch ?? 0);
  }

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
    return new Promise((resolve) => {
      const previous = this.probeWaiter;
      const timer = setTimeout(() => settle(false), timeoutMs);
      timer.unref();
      const settle = (heard: boolean) => {
        clearTimeout(timer);
        if (this.probeWaiter === settle) this.probeWaiter = undefined;
        previous?.(heard);
        resolve(heard);
      };
      this.probeWaiter = settle;
      this.send({ frame: { $case: 'ping', value: { nonce: ++this.pingNonce } } });
    });
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
    this.probeWaiter?.(false);
    if (this.pingTimer) clearInterval(this.pingTimer);
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
        this.close('first frame was not Register', {
          code: 3 /* INVALID_ARGUMENT */,
          details: 'the first frame on the tunnel stream must be Register: upgrade st-agent',
        });
        return;
      }
      this.onRegister(f.value);
      // Agents that probe their model server become routable with their first report, so that
      // a running tunnel's models are known; older agents at once, and so do the agents of plain
      // HTTP tunnels, which Welcome tells not to probe (no report will come).
      if (!f.value.capabilities.includes(CAPABILITY_HEALTH_REPORT) || this.tunnel.plainHttp) this.markReady();
      else this.readyTimer = setTimeout(() => this.markReady(), FIRST_REPORT_WAIT_MS).unref();
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
        this.exchanges
          .get(f.value.exchangeId)
          ?.fail(errorFromExchangeCode(f.value.code, f.value.message));
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
      case 'health':
        if (!this.healthBucket.take()) {
          this.overRate('HealthReport', this.healthBucket);
          break;
        }
        this.events.health(this, f.value);
        this.markReady();
        break;
      case 'register':
        // Logged once: a peer repeating it thousands of times a message must not flood the log.
        if (!this.warnedRegister) this.logger.warn('agent sent Register twice; ignored');
        this.warnedRegister = true;
        break;
    }
  }

  /**
   * At most one Pong is owed per stream: a Ping that comes while the Pong is still queued (the
   * agent does not read, or the stream is busy) replaces its nonce, so the newest Ping is
   * answered and a peer that pings without reading grows nothing (issue 7: 3 M Pings held
   * 364 MB). The Pong is produced only when the stream is written (FrameSender.beforeFlush).
   */
  private onPing(nonce: number): void {
    if (!this.pingBucket.take()) {
      this.overRate('Ping', this.pingBucket);
      return;
    }
    this.owedPong = nonce;
    if (this.pongQueued) return;
    this.pongQueued = true;
    this.sender.beforeFlush(this.sendPong);
  }

  private readonly sendPong = (): void => {
    this.pongQueued = false;
    this.send({ frame: { $case: 'pong', value: { nonce: this.owedPong } } });
  };

  private overRate(kind: string, bucket: TokenBucket): void {
    this.overLimit(`${bucket.ratePerSecond} ${kind} frames per second (burst ${bucket.burst})`, `${kind} frames`, 'per stream');
  }

  /** Cuts a peer over one of the stream's limits, saying which (log line and status). */
  private overLimit(limit: string, what: string, context: string): void {
    this.logger.warn({ limit }, `agent stream over the limit of ${limit}: cut with RESOURCE_EXHAUSTED`);
    this.options.meter.refused(what === 'frames' ? 'frames_per_message' : what === 'Ping frames' ? 'ping_rate' : 'health_rate');
    this.close(`the agent sent more than ${limit}`, {
      code: grpc.status.RESOURCE_EXHAUSTED,
      details: `too many ${what}: the broker allows ${limit} (${context}); the stream was cut`,
    });
  }

  private onQueueOverflow(held: number): void {
    if (this.closed) return;
    this.notReading = true;
    this.options.meter.refused('stream_queue');
    const limit = this.options.streamQueueLimitBytes;
    this.logger.warn(
      { limit, setting: 'ST_STREAM_QUEUE_LIMIT', heldBytes: held, openExchanges: this.exchanges.size },
      `agent stream over ST_STREAM_QUEUE_LIMIT (${formatBytes(limit)} queued towards it): the agent does not read its stream; cut with RESOURCE_EXHAUSTED`,
    );
    this.close(
      `the broker's queue towards the agent passed ST_STREAM_QUEUE_LIMIT (${formatBytes(limit)})`,
      {
        code: grpc.status.RESOURCE_EXHAUSTED,
        details: `the broker's queue towards this stream passed ST_STREAM_QUEUE_LIMIT (${formatBytes(limit)}): the agent did not read its stream; the stream was cut`,
      },
      `the agent of tunnel ${this.tunnel.id} stopped reading its stream and the broker cut it (more than ST_STREAM_QUEUE_LIMIT, ${formatBytes(limit)}, queued towards it); the request was not completed: retry once the agent has reconnected`,
    );
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

  private onRegister(register: Register): void {
    this.registered = register;
    // The agent's request window is its own business, within reason: a huge one would let a
    // request body pile up in the agent's memory instead of pushing back on the caller.
    this.agentWindow = register.receiveWindow > 0 ? Math.min(register.receiveWindow, 4 * DEFAULT_RECEIVE_WINDOW) : DEFAULT_RECEIVE_WINDOW;
    this.agentWindowLimit = windowLimitFor(Math.min(PROTOCOL_VERSION, register.protocolVersion || 1), this.agentWindow);
    this.send({
      frame: {
        $case: 'welcome',
        value: {
          protocolVersion: Math.min(PROTOCOL_VERSION, register.protocolVersion || PROTOCOL_VERSION),
          tunnelId: this.tunnel.id,
          upstreamUrl: this.tunnel.upstreamUrl,
          brokerId: this.options.brokerId,
          receiveWindow: this.options.receiveWindow,
          maxChunkBytes: this.options.maxChunkBytes,
          pingIntervalMs: this.options.pingIntervalMs,
          upstreamApiKey: this.tunnel.upstreamApiKey,
          healthIntervalMs: this.options.healthIntervalMs,
          plainHttp: this.tunnel.plainHttp,
          liveBrokers: Math.max(1, this.options.liveBrokers()),
        },
      },
    });
    this.logger.info(
      {
        agentVersion: register.agentVersion,
        protocolVersion: register.protocolVersion,
        hostname: register.hostname,
        capabilities: register.capabilities,
        upstream: register.upstreamOverride || this.tunnel.upstreamUrl,
        upstreamOverridden: register.upstreamOverride !== '',
        agentInstanceId: register.agentInstanceId,
        connectionEpoch: Number(register.connectionEpoch),
      },
      'agent registered',
    );
    this.pingTimer = setInterval(() => this.ping(), this.options.pingIntervalMs);
    this.pingTimer.unref();
    this.events.registered?.(this);
  }

  /** An agent whose receive loop is stuck answers no pings; its stream is then useless. */
  private ping(): void {
    if (Date.now() - this.lastHeard > this.options.pingIntervalMs * 2.5) {
      this.close('the agent answered no ping for too long', {
        code: 4 /* DEADLINE_EXCEEDED */,
        details: 'the agent answered no ping: reconnect',
      });
      return;
    }
    this.send({ frame: { $case: 'ping', value: { nonce: ++this.pingNonce } } });
  }
}


function formatBytes(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}
