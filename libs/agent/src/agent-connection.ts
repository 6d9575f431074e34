import { hostname } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { bearerMetadata } from '@st/grpc-kit';
import type { Logger } from '@st/logging';
import type { AgentFrame, BrokerFrame, ConnectResponse, RequestOpen, Welcome } from '@st/proto';
import {
  CAPABILITY_FLOW_CONTROL,
  CAPABILITY_HEALTH_REPORT,
  DEFAULT_RECEIVE_WINDOW,
  FrameSender,
  agentFrameSize,
  exchangeIdOf,
  isAgentControlFrame,
  PROTOCOL_VERSION,
} from '@st/tunnel-protocol';
import { ExchangeErrorCode } from '@st/proto';
import { exchangeContextFor, welcomeTerms } from './agent-welcome';
import { HealthMonitor } from './health-monitor';
import type { AgentMeter } from './agent-meter';
import { EXCHANGE_CONNECT_TIMEOUT_MS, UpstreamClient } from './upstream-client';
import { type ExchangeContext, UpstreamExchange } from './upstream-exchange';
import type { TunnelCall, TunnelConnectClient } from './tunnel-call';

/** How a connection ended, for the supervisor to decide what to do next. */
export interface ConnectionOutcome {
  /** True once Welcome was received (the broker accepted us). */
  welcomed: boolean;
  /** gRPC status that ended the call (OK for a clean end). */
  code: grpc.status;
  /** Why, in words for the log and the STATUS line. */
  reason: string;
}

export interface AgentConnectionOptions {
  /** grpc-js's TunnelServiceClient or the light client (light-tunnel-client.ts). */
  client: Pick<TunnelConnectClient, 'connect'>;
  token: string;
  agentVersion: string;
  /** ST_UPSTREAM_URL: when set it wins over the tunnel's address from Welcome. */
  upstreamOverride?: string;
  logger: Logger;
  /** Called once the broker has welcomed us, with the upstream actually used. */
  onWelcome?: (welcome: Welcome, upstreamUrl: string) => void;
  /**
   * How long dialling may take until Welcome. grpc-js has no connect timeout: a broker that
   * accepts TCP but never answers (frozen process, dead backend behind a load balancer) would
   * leave the agent waiting forever. Default {@link DEFAULT_WELCOME_TIMEOUT_MS}.
   */
  welcomeTimeoutMs?: number;
  /** How long open answers may finish when the broker asks us to drain (default 30 s). */
  brokerDrainGraceMs?: number;
  /** This process's id, the same on each of its streams (Register.agent_instance_id). */
  agentInstanceId?: string;
  /** This stream's number among those the process opened, from 1 (Register.connection_epoch). */
  connectionEpoch?: number;
  /** The probe loop shared by the process's streams; default one of this stream's own. */
  health?: HealthMonitor;
  /** Prometheus metrics (credit stalls); none when absent. */
  meter?: AgentMeter;
  /**
   * Called when the broker sends Drain, instead of draining at once: the caller opens a
   * replacement stream first and then calls {@link AgentConnection.retire}. Opens that still
   * arrive meanwhile are served. Without it the stream drains at once.
   */
  onDrainRequested?: (reason: string) => void;
}

/** Dial + TLS + HTTP/2 + admission take well under a second; 15 s is "the broker is not answering". */
export const DEFAULT_WELCOME_TIMEOUT_MS = 15_000;
/** The broker pings every Welcome.ping_interval_ms; this many intervals of silence mean it is gone. */
export const SILENT_PING_INTERVALS = 2;
/** After our half-close, how long the broker has to end the stream before we cancel it. */
const CLOSE_TIMEOUT_MS = 2_000;

/**
 * One agent stream, from dial to loss. It only knows how to serve; the supervisor decides about
 * reconnecting. The receive loop dispatches frames to exchanges and never waits on anything.
 */
export class AgentConnection {
  private readonly exchanges = new Map<number, UpstreamExchange>();
  private call: TunnelCall | undefined;
  private sender: FrameSender<AgentFrame> | undefined;
  private context: ExchangeContext | undefined;
  private upstream: UpstreamClient | undefined;
  private draining = false;
  /** Draining because we are stopping (not because the broker asked): new Opens are refused. */
  private stopping = false;
  private drainPromise: Promise<void> | undefined;
  private drainDeadline = Infinity;
  private stopHealth: (() => void) | undefined;
  private welcomeTimer: NodeJS.Timeout | undefined;
  private livenessTimer: NodeJS.Timeout | undefined;
  private lastHeard = Date.now();
  private welcomed = false;
  private settled = false;
  private settle: ((code: grpc.status, reason: string) => void) | undefined;

  constructor(private readonly options: AgentConnectionOptions) {}

  /** Open exchanges (for draining and tests). */
  get load(): number {
    return this.exchanges.size;
  }

  serve(): Promise<ConnectionOutcome> {
    return new Promise((resolve) => {
      this.settle = (code: grpc.status, reason: string) => {
        if (this.settled) return;
        this.settled = true;
        this.teardown();
        resolve({ welcomed: this.welcomed, code, reason });
      };
      const call = this.options.client.connect(bearerMetadata(this.options.token));
      this.call = call;
      this.sender = new FrameSender<AgentFrame>(
        { writeBatch: (frames, written) => call.write({ frames }, () => written()), onceDrain: (l) => call.once('drain', l) },
        agentFrameSize,
        { isControl: isAgentControlFrame },
      );
      const welcomeTimeoutMs = this.options.welcomeTimeoutMs ?? DEFAULT_WELCOME_TIMEOUT_MS;
      this.welcomeTimer = setTimeout(() => {
        this.fail(
          grpc.status.DEADLINE_EXCEEDED,
          `the broker did not answer within ${welcomeTimeoutMs / 1000} s (connection, TLS handshake or admission hangs: is the broker process frozen or overloaded, or a proxy holding the connection?)`,
        );
      }, welcomeTimeoutMs);
      call.on('data', (message: ConnectResponse) => {
        this.lastHeard = Date.now();
        for (const frame of message.frames) {
          if (frame.frame?.$case === 'welcome') {
            if (this.welcomed) continue; // A second Welcome would leak timers and an upstream pool.
            this.welcomed = true;
            try {
              this.onWelcome(frame.frame.value);
            } catch (err) {
              // An upstream URL that cannot be used (a bad ST_UPSTREAM_URL or tunnel address) must
              // end this connection with a reason, not throw inside grpc-js and kill the process.
              this.fail(grpc.status.FAILED_PRECONDITION, `cannot use the upstream address: ${(err as Error).message}`);
            }
          } else {
            try {
              this.dispatch(frame);
            } catch (err) {
              this.failFrame(frame, err);
            }
          }
        }
      });
      call.on('error', (err: grpc.ServiceError) => this.settle?.(err.code, err.details || err.message));
      call.on('end', () => this.settle?.(grpc.status.OK, 'the broker closed the stream'));
      this.sender.send({
        frame: {
          $case: 'register',
          value: {
            protocolVersion: PROTOCOL_VERSION,
            agentVersion: this.options.agentVersion,
            capabilities: [CAPABILITY_FLOW_CONTROL, CAPABILITY_HEALTH_REPORT],
            hostname: hostname(),
            receiveWindow: DEFAULT_RECEIVE_WINDOW,
            upstreamOverride: this.options.upstreamOverride ?? '',
            agentInstanceId: this.options.agentInstanceId ?? '',
            connectionEpoch: this.options.connectionEpoch ?? 0,
          },
        },
      });
    });
  }

  /**
   * Stops taking new exchanges and tells the broker (Draining: it routes nothing new here and
   * answers new requests with 503 tunnel_draining); resolves once the open exchanges have
   * finished, or `graceMs` has passed, and the stream is closed. Their last frames are flushed
   * before the stream is half-closed, so an answer that finished is delivered whole.
   */
  drain(graceMs: number): Promise<void> {
    this.stopping = true;
    return this.startDrain(graceMs);
  }

  /**
   * Ends a stream the broker asked to drain, or one that is not needed any more: Draining, open
   * answers finish (Opens still arriving are served), then a half-close.
   */
  retire(): Promise<void> {
    return this.startDrain(this.options.brokerDrainGraceMs ?? 30_000);
  }

  private startDrain(graceMs: number): Promise<void> {
    // A drain already under way (the broker asked for one) keeps going, but a shorter grace
    // period asked for later (SIGTERM with ST_DRAIN_GRACE_MS) wins.
    this.drainDeadline = Math.min(this.drainDeadline, Date.now() + graceMs);
    this.drainPromise ??= this.runDrain(graceMs);
    return this.drainPromise;
  }

  private async runDrain(graceMs: number): Promise<void> {
    this.draining = true;
    if (this.settled) return;
    if (!this.welcomed) {
      this.close();
      return;
    }
    const started = Date.now();
    const open = this.exchanges.size;
    this.sender?.send({ frame: { $case: 'draining', value: { graceMs } } });
    this.options.logger.info({ openExchanges: open, graceMs }, 'draining: the broker routes no new requests here; open answers may finish');
    while (!this.settled && (this.exchanges.size > 0 || (this.sender?.pending ?? 0) > 0) && Date.now() < this.drainDeadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    if (this.settled) return;
    const abandoned = this.exchanges.size;
    this.options.logger[abandoned > 0 ? 'warn' : 'info'](
      { tookMs: Date.now() - started, finished: open - Math.min(open, abandoned), abandoned },
      abandoned > 0 ? 'drain grace period over: cutting the answers still open' : 'drained: every open answer finished',
    );
    if (abandoned > 0) {
      this.close();
      return;
    }
    await this.closeGracefully();
  }

  /** Half-closes the stream (after every queued write) and waits for the broker to end it. */
  private async closeGracefully(): Promise<void> {
    const call = this.call;
    if (!call || this.settled) return;
    const ended = new Promise<void>((resolve) => {
      call.once('status', () => resolve());
      call.once('error', () => resolve());
      call.once('close', () => resolve());
    });
    // Nothing may be written after the half-close: a Pong or a health report queued now would
    // fail the call with ERR_STREAM_WRITE_AFTER_END instead of ending it cleanly.
    this.stopHealth?.();
    this.sender?.close();
    call.end();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), CLOSE_TIMEOUT_MS);
    });
    const outcome = await Promise.race([ended, late]);
    clearTimeout(timer);
    if (outcome === 'late') this.close();
    this.settle?.(grpc.status.OK, 'the agent closed the stream');
  }

  /** Closes the stream now; open exchanges are aborted. */
  close(): void {
    this.call?.cancel();
  }

  /** Ends the connection with an error of our own (timeouts): the stream is cancelled. */
  private fail(code: grpc.status, reason: string): void {
    if (this.settled) return;
    this.settle?.(code, reason);
    this.call?.cancel();
  }

  /**
   * The broker pings every `intervalMs` (application-level Ping frames, independent of HTTP/2
   * keepalive, which a proxy or load balancer may answer on the broker's behalf). Silence for
   * SILENT_PING_INTERVALS of them means the stream is dead even if the connection looks alive.
   */
  private startLivenessCheck(intervalMs: number): void {
    const limit = intervalMs * SILENT_PING_INTERVALS;
    this.livenessTimer = setInterval(() => {
      const silentMs = Date.now() - this.lastHeard;
      if (silentMs > limit) {
        this.fail(grpc.status.UNAVAILABLE, `the broker sent nothing for ${Math.round(silentMs / 1000)} s (it pings every ${intervalMs / 1000} s): the stream is presumed dead`);
      }
    }, Math.max(250, Math.min(intervalMs / 2, 5_000)));
    this.livenessTimer.unref();
  }

  private onWelcome(welcome: Welcome): void {
    if (this.welcomeTimer) clearTimeout(this.welcomeTimer);
    const terms = welcomeTerms(welcome, this.options.upstreamOverride);
    this.startLivenessCheck(terms.pingIntervalMs);
    this.upstream = new UpstreamClient(terms.upstreamUrl, { connectTimeoutMs: EXCHANGE_CONNECT_TIMEOUT_MS });
    const remove = (id: number) => {
      this.exchanges.delete(id);
    };
    this.context = exchangeContextFor(welcome, terms, this.sender!, this.upstream, remove, this.options.logger, this.options.meter);
    this.options.onWelcome?.(welcome, terms.upstreamUrl);
    if (terms.healthIntervalMs !== undefined) this.startHealthProbes(terms.healthIntervalMs, terms.extraHeaders);
  }

  /**
   * Reports the model server's health on this stream: at once (the broker routes to us once the
   * first report arrives) and then every interval, from the probe loop shared by all streams.
   */
  private startHealthProbes(intervalMs: number, headers: Record<string, string>): void {
    const monitor = this.options.health ?? new HealthMonitor(this.options.logger);
    const upstreamUrl = this.upstream!.origin;
    this.stopHealth = monitor.subscribe({ upstreamUrl, headers, intervalMs }, (report) => {
      if (!this.settled) this.sender?.send({ frame: { $case: 'health', value: report } });
    });
  }

  private dispatch(frame: BrokerFrame): void {
    const f = frame.frame;
    if (!f) return; // A frame kind from a newer broker: ignore it (see tunnel.proto).
    switch (f.$case) {
      case 'open':
        this.onOpen(f.value);
        break;
      case 'data':
        this.exchanges.get(f.value.exchangeId)?.pushRequestBody(f.value);
        break;
      case 'credit':
        this.exchanges.get(f.value.exchangeId)?.grantCredit(f.value.bytes);
        break;
      case 'cancel':
        this.exchanges.get(f.value.exchangeId)?.cancel(f.value.reason);
        break;
      case 'ping':
        this.sender?.send({ frame: { $case: 'pong', value: { nonce: f.value.nonce } } });
        break;
      case 'pong':
        break;
      case 'drain':
        if (this.options.onDrainRequested) {
          this.options.onDrainRequested(f.value.reason);
        } else {
          this.options.logger.info({ reason: f.value.reason, openExchanges: this.exchanges.size }, 'broker asked to drain; reconnecting once open exchanges finish');
          void this.retire();
        }
        break;
      case 'welcome':
        break;
    }
  }

  private onOpen(open: RequestOpen): void {
    if (!this.context) return;
    // After the broker's Drain an Open is still served: Drain goes ahead of queued frames, so an
    // Open sent before it may arrive after it (the broker routes nothing new once it drains).
    if (this.stopping) {
      this.sender?.send({
        frame: {
          $case: 'error',
          value: {
            exchangeId: open.exchangeId,
            code: ExchangeErrorCode.EXCHANGE_ERROR_CODE_DRAINING,
            message: 'the agent is stopping and takes no new requests: retry in a moment',
          },
        },
      });
      return;
    }
    const exchange = new UpstreamExchange(open.exchangeId, open, this.context);
    this.exchanges.set(open.exchangeId, exchange);
    exchange.start();
  }

  /**
   * A frame whose handling threw (a bug, or input nobody foresaw): the exchange it belongs to is
   * failed at once, so its caller gets an answer instead of waiting for the first-byte deadline
   * (300 s by default), and the model server's request is aborted.
   */
  private failFrame(frame: BrokerFrame, err: unknown): void {
    const id = exchangeIdOf(frame);
    this.options.logger.error({ err, frame: frame.frame?.$case, exchangeId: id }, 'handling a broker frame failed');
    if (id === undefined || !this.sender) return;
    this.exchanges.get(id)?.cancel('the agent failed to handle a frame');
    this.exchanges.delete(id);
    this.sender.send({
      frame: {
        $case: 'error',
        value: {
          exchangeId: id,
          code: ExchangeErrorCode.EXCHANGE_ERROR_CODE_INTERNAL,
          message: `the agent failed to handle the request (${err instanceof Error ? err.name : 'error'}); see the agent's log`,
        },
      },
    });
  }

  /** The stream is gone: abort every upstream request (nobody will read the answers). */
  private teardown(): void {
    this.stopHealth?.();
    if (this.welcomeTimer) clearTimeout(this.welcomeTimer);
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    for (const exchange of [...this.exchanges.values()]) exchange.cancel('the tunnel stream was lost');
    this.exchanges.clear();
    this.sender?.close();
    void this.upstream?.close();
  }
}

