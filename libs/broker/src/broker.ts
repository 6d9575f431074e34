import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import type { Logger } from '@st/logging';
import type { TunnelLiveView, TunnelRuntime } from '@st/live-state';
import type { TunnelServiceServer } from '@st/proto';
import { activeTracer } from '@st/telemetry';
import { type AgentAuthenticator, upstreamUrlOf } from './agent-authenticator';
import { admitAgentCall } from './agent-admission-gate';
import { drainingError, endCall, noAgentError, refusalStatus } from './broker-answers';
import { openTracedExchange } from './broker-tracing';
import { type TunnelHealth, healthFromReport, sameHealth } from './tunnel-health';
import { type AgentCall, AgentSession, type AgentSessionOptions } from './agent-session';
import {
  CLOSED_EXCHANGE,
  type Exchange,
  type ExchangeOpener,
  type ExchangeRequestHead,
  type ExchangeSink,
  type ExchangeTarget,
} from './exchange-api';
import { ConnectingStreams } from './connecting-streams';
import { PresencePublisher } from './presence-publisher';
import type { BrokerIdentity, StreamDirectory } from './stream-directory';
import { TunnelRegistry } from './tunnel-registry';
import type { BrokerMeter } from './broker-meter';

/**
 * How long a replaced stream with open exchanges has to show it is alive (any frame) before it is
 * taken for half-open and closed; far below the keepalive timeout (2.5 ping intervals).
 */
const RETIRE_PROBE_MS = 2_000;

/** Why a tunnel's runtime state changed: an agent came or went, or it sent a health report. */
export type TunnelRuntimeChange = 'agent' | 'health';

export interface BrokerOptions {
  authenticator: AgentAuthenticator;
  /** Told whenever a tunnel's runtime state changes (feeds WatchProviders). */
  onTunnelChange?: (tunnelId: string, userId: string, change: TunnelRuntimeChange) => void;
  logger: Logger;
  /** Names this broker to agents (Welcome.broker_id) and in presence; final once `advertise` is called. */
  brokerId: string;
  session?: Omit<AgentSessionOptions, 'brokerId'>;
  /** How long an admitted agent has to send Register. */
  registerTimeoutMs?: number;
  /** Agent streams per tunnel, draining and connecting ones included; 0 or absent = no limit (ST_MAX_STREAMS_PER_TUNNEL). */
  maxStreamsPerTunnel?: number;
  /**
   * Shared presence (with ST_REDIS_URL): the streams this broker holds are advertised there for
   * gateways in other processes, and its heartbeat counts it among the live brokers. Written only
   * once `advertise` was called.
   */
  presence?: StreamDirectory;
  /**
   * Called once an agent's Connect is admitted: opens the large HTTP/2 windows of its connection
   * (GrpcServerHost.widenWindows), which keeps Node's small ones while its token is looked up.
   */
  widenWindows?: (call: AgentCall) => void;
  /** Prometheus metrics (credit stalls, limit refusals); none when absent. */
  meter?: BrokerMeter;
}

/**
 * The broker role: admits agents (TunnelService.Connect), keeps their streams in the registry,
 * and opens exchanges on them for the gateway, in-process (this class is the gateway's
 * ExchangeOpener when both roles share a process) or through RelayService.
 */
export class Broker implements ExchangeOpener, TunnelRuntime {
  readonly registry = new TunnelRegistry();
  private readonly logger: Logger;
  private shuttingDown = false;
  /** Admitted streams that are not routable yet (Register or first health report pending). */
  private readonly connecting = new ConnectingStreams();
  /** Names this broker to agents; set again once the port is bound (ST_GRPC_PORT may be 0). */
  brokerId: string;
  private readonly presence: PresencePublisher;
  /** While shutting down: the streams not closed yet, and who waits for them to be. */
  private closing: { open: Set<AgentSession>; allClosed: () => void } | undefined;
  private stopped: Promise<void> | undefined;
  /** Admits a stream's agent again with the token it came with (see revalidate). */
  private readonly readmit = new WeakMap<AgentSession, () => ReturnType<AgentAuthenticator['admitAgent']>>();
  /**
   * Counts revocations (disconnectTunnel, revalidate). A stream whose admission began after the
   * last one cannot have missed any, so it becomes routable without a second store lookup: in a
   * reconnect storm of 10,000 agents that halves the admission work.
   */
  private revocations = 0;

  constructor(private readonly options: BrokerOptions) {
    this.logger = options.logger;
    this.brokerId = options.brokerId;
    this.presence = new PresencePublisher(options.presence, options.logger, () => this.registry.all());
  }

  /**
   * Names the broker for good (its port is bound) and, with presence, clears what a previous run
   * of the same id left and announces this one; streams admitted before are written after that.
   */
  advertise(identity: BrokerIdentity): Promise<void> {
    this.brokerId = identity.brokerId;
    return this.presence.advertise(identity);
  }

  /** TunnelService/Connect for any call of AgentCall's shape (grpc-js, or the light HTTP/2 stack of @st/grpc-kit). */
  readonly connectAgent = (call: AgentCall): void => {
    this.acceptAgent(call).catch((err: unknown) => {
      this.logger.error({ err }, 'admitting an agent failed');
      endCall(call, status.INTERNAL, 'the broker failed to admit the agent; it will retry');
    });
  };

  /** The grpc-js implementation of sessiontunnel.v1.TunnelService. */
  readonly tunnelService: TunnelServiceServer = { connect: this.connectAgent };

  open(target: ExchangeTarget, head: ExchangeRequestHead, sink: ExchangeSink): Exchange {
    const tracer = activeTracer();
    if (tracer) return openTracedExchange(tracer, target, head, sink, (h, s) => this.openExchange(target, h, s));
    return this.openExchange(target, head, sink);
  }

  private openExchange(target: ExchangeTarget, head: ExchangeRequestHead, sink: ExchangeSink): Exchange {
    const session = this.registry.pick(target.tunnelId, target.streamId);
    if (!session || session.tunnel.userId !== target.userId) {
      // An agent of someone else's tunnel answers exactly like no agent at all.
      const streams = this.registry.sessionsOf(target.tunnelId).filter((s) => s.tunnel.userId === target.userId);
      const error = streams.length > 0 ? drainingError(target.tunnelId) : noAgentError(target.tunnelId, this.shuttingDown);
      queueMicrotask(() => sink.error(error));
      return CLOSED_EXCHANGE;
    }
    return session.open(head, sink);
  }

  /** True when the tunnel has a live agent stream (its status is then `running`). */
  isConnected(tunnelId: string): boolean {
    return this.registry.isConnected(tunnelId);
  }

  /** The tunnel's streams on this broker (routable and draining), for status and `tunnels get`. */
  viewOf(tunnelId: string): Promise<TunnelLiveView> {
    return Promise.resolve(this.liveViewOf(tunnelId));
  }

  liveViewOf(tunnelId: string): TunnelLiveView {
    return this.registry.liveView(tunnelId, this.brokerId);
  }

  /** Forgets a deleted tunnel's last health report. */
  forgetTunnel(tunnelId: string): void {
    this.registry.forgetHealth(tunnelId);
  }

  /** The model server's health as last reported by the tunnel's agent, if any. */
  healthOf(tunnelId: string): TunnelHealth | undefined {
    return this.registry.healthOf(tunnelId);
  }

  /**
   * Drops every stream of a tunnel at once (tunnel stopped or deleted, token rotated). `code` is
   * what the agents get: UNAUTHENTICATED for a rotated token makes st-agent exit instead of retrying.
   */
  disconnectTunnel(tunnelId: string, reason: string, code: status = status.PERMISSION_DENIED): void {
    this.revocations++;
    for (const session of [...this.registry.sessionsOf(tunnelId), ...this.connecting.of(tunnelId)]) {
      session.close(reason, { code, details: reason });
    }
  }

  /**
   * Tells every agent to reconnect elsewhere (Drain), marks their streams draining in presence so
   * gateways pick other streams, and waits until the agents have closed them (st-agent opens its
   * replacement first, then closes the old stream once its answers are done) or `graceMs` passed;
   * then closes what is left and takes the broker out of presence.
   */
  shutdown(graceMs: number): Promise<void> {
    this.stopped ??= this.stop(graceMs);
    return this.stopped;
  }

  private async stop(graceMs: number): Promise<void> {
    this.shuttingDown = true;
    // Agents asking how many brokers there are must not count this one any more.
    const withdrawn = this.presence.withdraw();
    for (const s of this.connecting.all()) {
      // Not routable yet: nothing to finish, so no reason to hold the agent here.
      s.close('broker shutting down', { code: status.UNAVAILABLE, details: 'broker shutting down: reconnect to another broker' });
    }
    const sessions = this.registry.all().filter((s) => s.isOpen);
    const open = new Set(sessions);
    const allClosed = new Promise<void>((resolve) => {
      this.closing = { open, allClosed: resolve };
      if (open.size === 0) resolve();
    });
    for (const s of sessions) {
      const wasDraining = s.isDraining;
      s.drain('broker shutting down');
      if (!wasDraining) this.afterPresence(this.presence.update(s, { draining: true, load: s.load }), () => this.changed(s, 'agent'));
    }
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([allClosed, graceOver]);
    clearTimeout(timer);
    for (const s of sessions) {
      s.close('broker shutting down', { code: status.UNAVAILABLE, details: 'broker shutting down: reconnect to another broker' });
    }
    await withdrawn;
    await this.presence.clear();
  }

  /**
   * A stream whose agent process (instance id) already holds another stream to this broker for
   * the same tunnel replaced it (higher epoch): either the agent redialled because the older one
   * is half-open, or it reached this broker again through a load balancer and will finish the
   * older one's answers and close it itself. Nothing new is routed to the older stream from now
   * on; it is closed at once when it carries nothing, or when the agent does not answer a ping
   * within RETIRE_PROBE_MS (half-open: its exchanges fail as on any lost stream) instead of after
   * the keepalive timeout. A late stream of a lower epoch is the one closed.
   */
  private retireReplaced(s: AgentSession): void {
    if (!s.agentInstanceId || s.connectionEpoch === 0) return;
    const peers = [...this.registry.sessionsOf(s.tunnel.id), ...this.connecting.of(s.tunnel.id)].filter(
      (o) => o !== s && o.isOpen && o.tunnel.id === s.tunnel.id && o.agentInstanceId === s.agentInstanceId,
    );
    for (const other of peers) {
      if (other.connectionEpoch === s.connectionEpoch) continue;
      const [older, newer] = other.connectionEpoch < s.connectionEpoch ? [other, s] : [s, other];
      const reason = `replaced by a newer stream of the same st-agent (instance ${s.agentInstanceId}, epoch ${older.connectionEpoch} replaced by ${newer.connectionEpoch})`;
      const retire = (why: string) =>
        older.close(
          `${reason}${why}`,
          { code: status.ABORTED, details: `this stream was ${reason}${why}; it is closed` },
          `the agent of tunnel ${s.tunnel.id} replaced the stream that carried this request (it reconnected); the request was not completed: retry`,
        );
      if (older.load === 0) {
        retire('');
        if (older === s) return;
        continue;
      }
      const wasDraining = older.isDraining;
      older.stopRouting();
      if (!wasDraining && this.registry.holds(older)) {
        this.afterPresence(this.presence.update(older, { draining: true, load: older.load }), () => this.changed(older, 'agent'));
      }
      void older.probe(RETIRE_PROBE_MS).then((heard) => {
        if (!heard) retire(`, and it did not answer a ping within ${RETIRE_PROBE_MS} ms`);
      });
    }
  }

  /** Runs `then` once the presence write is done (at once without presence: one process). */
  private afterPresence(write: Promise<void> | undefined, then: () => void): void {
    if (!write) then();
    else void write.then(then);
  }

  private changed(s: AgentSession, change: TunnelRuntimeChange): void {
    this.options.onTunnelChange?.(s.tunnel.id, s.tunnel.userId, change);
  }

  /**
   * Admits every held stream's agent again, closing those refused: for when revocation events may
   * have been missed (the change feed reconnected after a Redis outage). Resolves once all were checked.
   */
  async revalidate(): Promise<number> {
    // Revocations may have been missed: streams admitted meanwhile are admitted again when ready.
    this.revocations++;
    let dropped = 0;
    await Promise.all(
      this.registry.all().map(async (s) => {
        const again = await this.readmit.get(s)?.().catch((err: unknown) => {
          this.logger.warn({ err, tunnelId: s.tunnel.id, connectionId: s.connectionId }, 'admitting an agent again failed; its stream is kept');
          return undefined;
        });
        if (!again || !('refused' in again) || !s.isOpen) return;
        const refusal = refusalStatus(again);
        s.close(refusal.details, refusal);
        dropped++;
      }),
    );
    return dropped;
  }

  /** Streams of a tunnel: routable, draining and still registering. */
  private streamCount(tunnelId: string): number {
    return this.registry.sessionsOf(tunnelId).length + this.connecting.count(tunnelId);
  }

  private async acceptAgent(call: AgentCall): Promise<void> {
    const revocationsBefore = this.revocations;
    const admitted = await admitAgentCall(call, {
      shuttingDown: this.shuttingDown,
      authenticator: this.options.authenticator,
      maxStreamsPerTunnel: this.options.maxStreamsPerTunnel ?? 0,
      streamCount: (tunnelId) => this.streamCount(tunnelId),
      logger: this.logger,
      meter: this.options.meter,
    });
    if (!admitted) return;
    const { token, admission } = admitted;
    const { tunnel } = admission;
    const peer = call.getPeer();
    // Admitted: AgentSession reads the stream from now on, and the far link needs the large windows.
    this.options.widenWindows?.(call);
    const connectionId = randomUUID().slice(0, 8);
    const logger = this.logger.child({ tunnelId: tunnel.id, connectionId, peer });
    const session = new AgentSession(
      call,
      {
        id: tunnel.id,
        userId: tunnel.userId,
        upstreamUrl: upstreamUrlOf(tunnel),
        upstreamApiKey: tunnel.upstreamApiKey,
        plainHttp: !tunnel.openai,
      },
      connectionId,
      { brokerId: this.brokerId, liveBrokers: () => this.presence.liveBrokers, meter: this.options.meter, ...this.options.session },
      logger,
      {
        ready: (s) => {
          clearTimeout(registerTimer);
          // Admission is checked again before the stream becomes routable: the tunnel may have
          // been stopped or deleted while the agent registered, and revocation only sees
          // routable streams and the ones in `connecting`. Unless no revocation happened since
          // the first check began: then its answer still holds.
          const checked = this.revocations === revocationsBefore ? Promise.resolve(admission) : this.options.authenticator.admitAgent(token);
          checked.then(
            (again) => {
              this.connecting.delete(s);
              if (!s.isOpen) return;
              if ('refused' in again) {
                const refusal = refusalStatus(again);
                s.close(refusal.details, refusal);
                return;
              }
              this.registry.add(s);
              // Gateways that hear the change read presence: it must already list the stream.
              this.afterPresence(this.presence.put(s), () => this.changed(s, 'agent'));
            },
            (err: unknown) => {
              this.connecting.delete(s);
              logger.error({ err }, 'admitting the agent again failed');
              s.close('admission failed', { code: status.INTERNAL, details: 'the broker failed to admit the agent; it will retry' });
            },
          );
        },
        registered: (s) => this.retireReplaced(s),
        closed: (s) => {
          this.connecting.delete(s);
          clearTimeout(registerTimer);
          const wasListed = this.registry.remove(s);
          if (wasListed) this.afterPresence(this.presence.remove(s), () => this.changed(s, 'agent'));
          if (this.closing?.open.delete(s) && this.closing.open.size === 0) this.closing.allClosed();
        },
        // A draining agent no longer makes its tunnel `running` (isConnected is false): say so now,
        // not only once its stream closes.
        // A stream that drains before it was routable was never put in presence: nothing to update.
        draining: (s) =>
          this.registry.holds(s) ? this.afterPresence(this.presence.update(s, { draining: true, load: s.load }), () => this.changed(s, 'agent')) : this.changed(s, 'agent'),
        health: (s, report) => {
          const before = s.health;
          const after = healthFromReport(report);
          s.health = after;
          this.registry.setHealth(s.tunnel.id, after);
          // A first report arrives before the stream is routable: the put and the 'agent' change
          // that follow carry it. Later, presence gets every report (its time and the stream's
          // load), the feed only a different verdict or model list, a change worth pushing.
          if (!this.registry.holds(s)) return;
          const changed = !sameHealth(before, after);
          this.afterPresence(this.presence.update(s, { health: after, load: s.load }), () => {
            if (changed) this.changed(s, 'health');
          });
        },
      },
    );
    this.readmit.set(session, () => this.options.authenticator.admitAgent(token));
    this.connecting.add(session);
    const registerTimer = setTimeout(() => {
      session.close('no Register frame in time', {
        code: status.DEADLINE_EXCEEDED,
        details: 'the agent sent no Register frame in time',
      });
    }, this.options.registerTimeoutMs ?? 10_000);
    registerTimer.unref();
  }
}
