import * as grpc from '@grpc/grpc-js';
import type { Logger } from '@st/logging';
import type { Welcome } from '@st/proto';
import { FastTunnelServiceClient } from '@st/tunnel-protocol';
import { AgentConnection, type ConnectionOutcome } from './agent-connection';
import type { AgentExit, AgentSupervisorOptions } from './agent-supervisor-options';
import { newAgentInstanceId } from './agent-instance';
import { type BrokerEndpoint, prepareEndpoint } from './broker-endpoint';
import { BrokerTargetError } from './broker-credentials';
import { explainDialFailure } from './http1-probe';
import { type Clock, systemClock } from './clock';
import { EXIT_CONFIG, EXIT_OK, EXIT_TOKEN_REFUSED } from './exit-codes';
import { HealthMonitor } from './health-monitor';
import type { AgentStreamsSnapshot } from './agent-metrics';
import { BACKOFF_STABLE_MS, ReconnectBackoff } from './reconnect-backoff';
import { retryDelay } from './retry-delay';
import { pickUrl, streamTarget } from './stream-plan';
import { LightTunnelClient } from './light-tunnel-client';
import type { TunnelConnectClient } from './tunnel-call';

export type { AgentExit, AgentSupervisorOptions } from './agent-supervisor-options';

/**
 * A drained stream keeps serving until its replacement is welcomed, but no longer than this: a
 * replacement that cannot connect (the only broker is the one restarting) must not keep the old
 * stream, which the broker is about to close, from finishing its answers in good order.
 */
export const REPLACEMENT_WAIT_MS = 5_000;
/** The longest the supervisor sleeps without looking again (a timer must not take Infinity). */
const MAX_IDLE_MS = 60_000;

/** One stream to a broker, from dial to end. */
interface Stream {
  /** Its connection epoch: 1, 2, … in the order this process opened streams. */
  epoch: number;
  endpoint: BrokerEndpoint;
  client: TunnelConnectClient;
  connection: AgentConnection;
  started: number;
  welcome?: Welcome;
  upstreamUrl?: string;
  /** The broker asked it to drain, or a newer stream to the same broker replaced it: it does not count. */
  draining: boolean;
  /** When the broker's Drain came, and the epoch opened last by then (a later one replaces it). */
  drainAsked?: { at: number; epoch: number };
  /** Its Draining was sent: it finishes its open answers and half-closes. */
  retiring: boolean;
}

/**
 * Keeps the agent's streams alive: as many distinct brokers as ST_BROKER_CONNECTIONS asks for,
 * and as exist (Welcome tells each broker's id and how many are live). A stream that is lost is
 * redialled with backoff; through one load-balanced URL the agent redials until it holds that
 * many distinct broker ids. Converges on "connected" rather than retrying a fixed number of
 * times (konnectivity's agents that gave up stayed gone).
 *
 * Each stream gets a channel of its own, closed when it ends: a connection that hangs (a frozen
 * broker accepts TCP and never answers) cannot be inherited by the next attempt, grpc-js's own
 * reconnect pacing never stacks on top of ours, and two streams to one load-balanced name are
 * two connections the balancer may send to two brokers.
 */
export class AgentSupervisor {
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly backoff: ReconnectBackoff;
  /** Paces redials that landed on a broker already held (through a load balancer). */
  private readonly duplicateBackoff: ReconnectBackoff;
  private readonly health: HealthMonitor;
  private readonly instanceId: string;
  private readonly urls: string[];
  private readonly connections: number;
  private readonly streams = new Set<Stream>();
  private endpoints: BrokerEndpoint[] = [];
  private stopping = false;
  private drainGraceMs: number | undefined;
  private epoch = 0;
  /** The latest Welcome.live_brokers (0: none heard yet). */
  private liveBrokers = 0;
  private nextDialAt = 0;
  private cursor = 0;
  /** Attempts that failed since the last Welcome. */
  private failures = 0;
  private fatal: AgentExit | undefined;
  private waiting: AbortController | undefined;

  constructor(private readonly options: AgentSupervisorOptions) {
    this.logger = options.logger;
    this.clock = options.clock ?? systemClock;
    this.backoff = new ReconnectBackoff({ now: () => this.clock.now(), ...options.backoff });
    this.duplicateBackoff = new ReconnectBackoff({ now: () => this.clock.now(), ...options.backoff });
    this.health = new HealthMonitor(options.logger);
    this.instanceId = options.agentInstanceId ?? newAgentInstanceId();
    this.urls = options.brokerUrls ?? options.brokerUrl.split(',').map((u) => u.trim()).filter((u) => u !== '');
    this.connections = options.brokerConnections ?? 1;
  }

  /** Serves until stop() or a failure that retrying cannot mend. */
  async run(): Promise<AgentExit> {
    try {
      this.endpoints = this.urls.map((url) => prepareEndpoint(url, { caFile: this.options.caFile, env: this.options.env, logger: this.logger }));
    } catch (err) {
      if (!(err instanceof BrokerTargetError)) throw err;
      this.logger.error({ brokerUrl: this.options.brokerUrl, caFile: this.options.caFile }, err.message);
      this.status(err.message);
      return { exitCode: EXIT_CONFIG, reason: err.message };
    }
    this.logger.debug({ agentInstanceId: this.instanceId, brokerUrls: this.urls, brokerConnections: this.connections }, 'agent instance');
    this.status(`connecting to broker ${this.urls.join(', ')}`);
    while (!this.stopping && !this.fatal) {
      this.reconcile();
      await this.idle();
    }
    if (this.fatal) for (const s of this.streams) s.connection.close();
    while (this.streams.size > 0) await this.idle();
    return this.fatal ?? { exitCode: EXIT_OK, reason: 'stopped' };
  }

  /** Drains every stream (open answers finish within `graceMs`) and stops. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.drainGraceMs = graceMs;
    this.wake();
    await Promise.all([...this.streams].map((s) => s.connection.drain(graceMs)));
  }

  /** Stops at once: open exchanges are aborted. */
  stopNow(): void {
    this.stopping = true;
    this.wake();
    for (const s of this.streams) {
      s.connection.close();
      s.client.close();
    }
  }

  /** The streams now, for the metrics' gauges (read on a scrape). */
  snapshot(): AgentStreamsSnapshot {
    let connected = 0;
    let openExchanges = 0;
    for (const s of this.streams) {
      if (s.welcome) connected++;
      openExchanges += s.connection.load;
    }
    return { connected, connecting: this.streams.size - connected, openExchanges };
  }

  /** How many distinct brokers to hold a stream to now. */
  private get target(): number {
    return streamTarget({ connections: this.connections, liveBrokers: this.liveBrokers, urlCount: this.urls.length });
  }

  /** Streams that count toward the target: not draining, welcomed or still connecting. */
  private counting(): Stream[] {
    return [...this.streams].filter((s) => !s.draining);
  }

  /** Retires drained streams whose replacement is in, and dials what is missing. */
  private reconcile(): void {
    const now = this.clock.now();
    const welcomed = this.counting().filter((s) => s.welcome).length;
    for (const s of this.streams) {
      if (!s.drainAsked || s.retiring) continue;
      const replaced = [...this.streams].some((o) => o.epoch > s.drainAsked!.epoch && o.welcome && !o.draining);
      if (replaced || welcomed >= this.target || now - s.drainAsked.at >= this.replacementWaitMs) {
        this.retire(s, replaced ? 'its replacement is connected' : welcomed >= this.target ? 'enough brokers are held without it' : 'no replacement connected in time');
      }
    }
    if (this.stopping || now < this.nextDialAt) return;
    for (let missing = this.target - this.counting().length; missing > 0; missing--) this.dial();
  }

  private get replacementWaitMs(): number {
    return this.options.replacementWaitMs ?? REPLACEMENT_WAIT_MS;
  }

  /** Waits until something changed, or until the next dial or retirement is due. */
  private async idle(): Promise<void> {
    const now = this.clock.now();
    let until = now + MAX_IDLE_MS;
    if (this.counting().length < this.target && !this.stopping) until = Math.min(until, Math.max(now, this.nextDialAt));
    for (const s of this.streams) if (s.drainAsked && !s.retiring) until = Math.min(until, s.drainAsked.at + this.replacementWaitMs);
    this.waiting = new AbortController();
    await this.clock.sleep(Math.max(0, until - now), this.waiting.signal);
  }

  private wake(): void {
    this.waiting?.abort();
  }

  private dial(): void {
    const urlIndex = pickUrl(this.urls, this.counting().map((s) => s.endpoint.url), this.cursor);
    this.cursor = urlIndex + 1;
    const endpoint = this.endpoints[urlIndex];
    const epoch = ++this.epoch;
    // The tunnel's own codec (frame-encoder.ts): ts-proto's bytes, written once. grpc-js does the
    // CONNECT through a proxy; otherwise the light client (light-tunnel-client.ts) unless switched off.
    const client: TunnelConnectClient =
      (this.options.lightClient ?? true) && !endpoint.proxied
        ? new LightTunnelClient(endpoint.broker, this.options.agentVersion, this.logger)
        : new FastTunnelServiceClient(endpoint.broker.address, endpoint.broker.credentials, endpoint.channelOptions);
    const stream: Stream = {
      epoch,
      endpoint,
      client,
      started: this.clock.now(),
      draining: false,
      retiring: false,
      connection: new AgentConnection({
        client,
        token: this.options.token,
        agentVersion: this.options.agentVersion,
        upstreamOverride: this.options.upstreamUrl,
        logger: this.logger.child({ brokerUrl: endpoint.url, connectionEpoch: epoch }),
        welcomeTimeoutMs: this.options.welcomeTimeoutMs,
        agentInstanceId: this.instanceId,
        connectionEpoch: epoch,
        health: this.health,
        meter: this.options.meter,
        onWelcome: (welcome, upstreamUrl) => this.onWelcome(stream, welcome, upstreamUrl),
        onDrainRequested: (reason) => this.onDrainRequested(stream, reason),
      }),
    };
    this.streams.add(stream);
    void stream.connection.serve().then((outcome) => this.onEnd(stream, outcome));
  }

  private onWelcome(stream: Stream, welcome: Welcome, upstreamUrl: string): void {
    stream.welcome = welcome;
    stream.upstreamUrl = upstreamUrl;
    this.liveBrokers = welcome.liveBrokers;
    // A newer stream to a broker already held replaces the older one, which finishes its answers:
    // a broker that sees this process's higher epoch retires the older stream itself.
    const older = [...this.streams].filter((o) => o !== stream && !o.draining && o.welcome?.brokerId === welcome.brokerId);
    for (const o of older) {
      o.draining = true;
      this.retire(o, `a newer stream (epoch ${stream.epoch}) reached the same broker`);
    }
    if (older.length > 0) {
      const delay = this.duplicateBackoff.next();
      this.nextDialAt = Math.max(this.nextDialAt, this.clock.now() + delay);
      this.logger.info(
        { brokerId: welcome.brokerId, brokerUrl: stream.endpoint.url, retryInMs: delay, liveBrokers: welcome.liveBrokers, target: this.target },
        'the stream reached a broker already held; dialling again later for another one',
      );
    }
    if (this.heldBrokers().length >= this.target) this.duplicateBackoff.reset();
    this.logger.info(
      {
        tunnelId: welcome.tunnelId,
        brokerId: welcome.brokerId,
        brokerUrl: stream.endpoint.url,
        connectionEpoch: stream.epoch,
        liveBrokers: welcome.liveBrokers,
        heldBrokers: this.heldBrokers().length,
        target: this.target,
        upstream: upstreamUrl,
        upstreamSource: this.options.upstreamUrl ? 'ST_UPSTREAM_URL' : 'tunnel',
        tls: stream.endpoint.broker.tls,
        failedAttempts: this.failures,
      },
      'connected to broker',
    );
    this.failures = 0;
    this.statusHeld();
    this.wake();
  }

  private onDrainRequested(stream: Stream, reason: string): void {
    if (stream.draining) return;
    stream.draining = true;
    stream.drainAsked = { at: this.clock.now(), epoch: this.epoch };
    this.options.meter?.reconnect('drained');
    // The broker is going away: while its replacement (or it, restarted) is not there yet, retry quickly.
    this.backoff.connectionLost(this.clock.now() - stream.started);
    // The replacement is dialled at once: a drain is planned, not a failure to back off from.
    this.nextDialAt = 0;
    this.logger.info(
      { brokerId: stream.welcome?.brokerId, brokerUrl: stream.endpoint.url, reason, openExchanges: stream.connection.load },
      'broker asked to drain; opening a replacement stream before this one finishes its open answers',
    );
    if (this.heldBrokers().length === 0) this.status(`broker ${stream.endpoint.url} asked to drain (${reason}); connecting a replacement stream`);
    else this.statusHeld();
    this.wake();
  }

  /** The stream tells its broker it is draining, finishes its open answers and half-closes. */
  private retire(stream: Stream, why: string): void {
    if (stream.retiring) return;
    stream.retiring = true;
    this.logger.info({ brokerId: stream.welcome?.brokerId, connectionEpoch: stream.epoch, openExchanges: stream.connection.load, why }, 'closing a stream once its open answers finish');
    void (this.drainGraceMs === undefined ? stream.connection.retire() : stream.connection.drain(this.drainGraceMs));
  }

  private async onEnd(stream: Stream, outcome: ConnectionOutcome): Promise<void> {
    this.streams.delete(stream);
    stream.client.close();
    if (this.stopping || this.fatal) return this.wake();
    if (outcome.code === grpc.status.UNAUTHENTICATED) {
      // One broker refusing the token is enough: the tunnel was deleted or its token replaced.
      this.fatal = { exitCode: EXIT_TOKEN_REFUSED, reason: `the broker refused the tunnel token: ${outcome.reason}` };
      this.logger.error({ code: grpc.status[outcome.code], reason: outcome.reason, brokerUrl: stream.endpoint.url }, this.fatal.reason);
      this.status(this.fatal.reason);
      return this.wake();
    }
    if (stream.draining) {
      // Asked for (Drain, or replaced by a newer stream): its replacement is being taken care of.
      this.logger.info({ brokerId: stream.welcome?.brokerId, code: grpc.status[outcome.code], reason: outcome.reason }, 'drained stream closed');
      this.statusHeld();
      return this.wake();
    }
    this.failures++;
    if (outcome.welcomed) this.options.meter?.reconnect('lost');
    else this.options.meter?.connectFailed();
    const now = this.clock.now();
    if (now - stream.started >= BACKOFF_STABLE_MS) this.backoff.reset();
    // A served stream lost (broker restarted or gone): retry quickly while no broker answers.
    if (outcome.welcomed) this.backoff.connectionLost(now - stream.started);
    // Refused as stopped: retry about every second, so a restarted tunnel serves again at once.
    const { delayMs: delay, waitingForStart } = retryDelay(outcome, this.backoff);
    this.nextDialAt = Math.max(this.nextDialAt, now + delay);
    const hint = outcome.welcomed || waitingForStart ? undefined : await explainDialFailure(outcome.reason, stream.endpoint.dialContext);
    if (this.stopping || this.fatal) return this.wake();
    this.logger.warn(
      {
        code: grpc.status[outcome.code],
        reason: outcome.reason,
        hint,
        brokerUrl: stream.endpoint.url,
        brokerId: stream.welcome?.brokerId,
        retryInMs: delay,
        failedAttempts: this.failures,
        wasConnected: outcome.welcomed,
        connectedForMs: outcome.welcomed ? now - stream.started : undefined,
      },
      waitingForStart
        ? 'the tunnel or its session is stopped; retrying every second until it is started'
        : outcome.welcomed
          ? 'broker connection lost; reconnecting with backoff'
          : 'cannot connect to the broker; retrying with backoff',
    );
    if (this.heldBrokers().length === 0) this.status(`retrying in ${(delay / 1000).toFixed(1)} s: ${hint ?? outcome.reason}`);
    else this.statusHeld();
    this.wake();
  }

  /** The welcomed streams that count, one per broker. */
  private heldBrokers(): Stream[] {
    return this.counting().filter((s) => s.welcome);
  }

  /** STATUS= while at least one stream is welcomed. */
  private statusHeld(): void {
    const held = this.heldBrokers();
    if (held.length === 0 || this.stopping) return;
    const { tunnelId } = held[0].welcome!;
    const upstream = held[0].upstreamUrl;
    const missing = this.target - held.length;
    const more = missing > 0 ? `; looking for ${missing} more broker${missing > 1 ? 's' : ''}` : '';
    if (held.length === 1) {
      this.status(`connected to broker ${held[0].endpoint.url} for tunnel ${tunnelId}, upstream ${upstream}${more}`);
    } else {
      this.status(`connected to ${held.length} brokers: ${held.map((s) => s.welcome!.brokerId || s.endpoint.url).join(', ')} for tunnel ${tunnelId}, upstream ${upstream}${more}`);
    }
  }

  private status(text: string): void {
    this.options.onStatus?.(text);
  }
}
