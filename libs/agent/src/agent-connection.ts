import { hostname } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { bearerMetadata } from '@st/grpc-kit';
import type { Logger } from '@st/logging';
import type { AgentFrame, BrokerFrame, ConnectRequest, ConnectResponse, RequestOpen, TunnelServiceClient, Welcome } from '@st/proto';
import {
  CAPABILITY_FLOW_CONTROL,
  CAPABILITY_HEALTH_REPORT,
  DEFAULT_HEALTH_INTERVAL_MS,
  DEFAULT_MAX_CHUNK_BYTES,
  DEFAULT_RECEIVE_WINDOW,
  FrameSender,
  PROTOCOL_VERSION,
} from '@st/tunnel-protocol';
import { ExchangeErrorCode } from '@st/proto';
import { probeModelServer } from './health-probe';
import { UpstreamClient } from './upstream-client';
import { type ExchangeContext, UpstreamExchange } from './upstream-exchange';

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
  client: TunnelServiceClient;
  token: string;
  agentVersion: string;
  /** ST_UPSTREAM_URL: when set it wins over the tunnel's address from Welcome. */
  upstreamOverride?: string;
  logger: Logger;
  /** Called once the broker has welcomed us, with the upstream actually used. */
  onWelcome?: (welcome: Welcome, upstreamUrl: string) => void;
}

/**
 * One agent stream, from dial to loss. It only knows how to serve; the supervisor decides about
 * reconnecting. The receive loop dispatches frames to exchanges and never waits on anything.
 */
export class AgentConnection {
  private readonly exchanges = new Map<number, UpstreamExchange>();
  private call: grpc.ClientDuplexStream<ConnectRequest, ConnectResponse> | undefined;
  private sender: FrameSender<AgentFrame> | undefined;
  private context: ExchangeContext | undefined;
  private upstream: UpstreamClient | undefined;
  private draining = false;
  private healthTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: AgentConnectionOptions) {}

  /** Open exchanges (for draining and tests). */
  get load(): number {
    return this.exchanges.size;
  }

  serve(): Promise<ConnectionOutcome> {
    return new Promise((resolve) => {
      let welcomed = false;
      let settled = false;
      const settle = (code: grpc.status, reason: string) => {
        if (settled) return;
        settled = true;
        this.teardown();
        resolve({ welcomed, code, reason });
      };
      const call = this.options.client.connect(bearerMetadata(this.options.token));
      this.call = call;
      this.sender = new FrameSender<AgentFrame>(
        { writeBatch: (frames) => call.write({ frames }), onceDrain: (l) => call.once('drain', l) },
        agentFrameSize,
      );
      call.on('data', (message: ConnectResponse) => {
        for (const frame of message.frames) {
          if (frame.frame?.$case === 'welcome') {
            welcomed = true;
            this.onWelcome(frame.frame.value);
          } else {
            try {
              this.dispatch(frame);
            } catch (err) {
              this.options.logger.error({ err, frame: frame.frame?.$case }, 'handling a broker frame failed');
            }
          }
        }
      });
      call.on('error', (err: grpc.ServiceError) => settle(err.code, err.details || err.message));
      call.on('end', () => settle(grpc.status.OK, 'the broker closed the stream'));
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
          },
        },
      });
    });
  }

  /**
   * Stops taking new exchanges and tells the broker; resolves when the open ones have finished
   * or `graceMs` has passed, then closes the stream.
   */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    this.sender?.send({ frame: { $case: 'draining', value: { graceMs } } });
    const deadline = Date.now() + graceMs;
    while (this.exchanges.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.close();
  }

  /** Closes the stream now; open exchanges are aborted. */
  close(): void {
    this.call?.cancel();
  }

  private onWelcome(welcome: Welcome): void {
    const upstreamUrl = this.options.upstreamOverride || welcome.upstreamUrl || 'http://127.0.0.1:8000';
    this.upstream = new UpstreamClient(upstreamUrl);
    const sender = this.sender!;
    // The model server's own key replaces the caller's credentials, which never leave the gateway.
    const extraHeaders: Record<string, string> = welcome.upstreamApiKey ? { authorization: `Bearer ${welcome.upstreamApiKey}` } : {};
    this.context = {
      extraHeaders,
      plainHttp: welcome.plainHttp,
      send: (frame) => sender.send(frame),
      beforeFlush: (producer) => sender.beforeFlush(producer),
      remove: (id) => {
        this.exchanges.delete(id);
      },
      upstream: this.upstream,
      brokerWindow: welcome.receiveWindow || DEFAULT_RECEIVE_WINDOW,
      agentWindow: DEFAULT_RECEIVE_WINDOW,
      maxChunkBytes: welcome.maxChunkBytes || DEFAULT_MAX_CHUNK_BYTES,
      logger: this.options.logger,
    };
    this.options.onWelcome?.(welcome, upstreamUrl);
    if (!welcome.plainHttp) this.startHealthProbes(welcome.healthIntervalMs || DEFAULT_HEALTH_INTERVAL_MS, extraHeaders);
  }

  /** Probes now (the broker routes to us once the first report arrives) and then on an interval. */
  private startHealthProbes(intervalMs: number, headers: Record<string, string>): void {
    let last = '';
    const probe = async () => {
      const upstream = this.upstream;
      if (!upstream) return;
      const report = await probeModelServer(upstream, headers);
      if (this.upstream !== upstream) return;
      const verdict = `${report.healthy}|${report.models.join(',')}|${report.error}`;
      if (verdict !== last) {
        this.options.logger[report.healthy ? 'info' : 'warn']({ healthy: report.healthy, models: report.models, error: report.error || undefined }, 'model server health');
        last = verdict;
      }
      this.sender?.send({ frame: { $case: 'health', value: report } });
    };
    void probe();
    this.healthTimer = setInterval(() => void probe(), intervalMs);
    this.healthTimer.unref();
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
        this.options.logger.info({ reason: f.value.reason }, 'broker asked to drain; reconnecting once open exchanges finish');
        void this.drain(30_000);
        break;
      case 'welcome':
        break;
    }
  }

  private onOpen(open: RequestOpen): void {
    if (!this.context) return;
    if (this.draining) {
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

  /** The stream is gone: abort every upstream request (nobody will read the answers). */
  private teardown(): void {
    if (this.healthTimer) clearInterval(this.healthTimer);
    for (const exchange of [...this.exchanges.values()]) exchange.cancel('the tunnel stream was lost');
    this.exchanges.clear();
    this.sender?.close();
    void this.upstream?.close();
  }
}

function agentFrameSize(frame: AgentFrame): number {
  const f = frame.frame;
  if (!f) return 0;
  if (f.$case === 'data') return f.value.chunk.length + 16;
  if (f.$case === 'head') return f.value.body.length + 128;
  return 16;
}
