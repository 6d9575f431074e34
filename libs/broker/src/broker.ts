import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { bearerFromMetadata } from '@st/grpc-kit';
import type { Logger } from '@st/logging';
import { NO_AGENT_VIEW, type TunnelLiveView, type TunnelRuntime } from '@st/live-state';
import type { TunnelServiceServer } from '@st/proto';
import { TunnelError } from '@st/tunnel-protocol';
import { type AgentAuthenticator, type AgentRefusal, upstreamUrlOf } from './agent-authenticator';
import { type TunnelHealth, healthFromReport } from './tunnel-health';
import { type AgentCall, AgentSession, type AgentSessionOptions } from './agent-session';
import {
  CLOSED_EXCHANGE,
  type Exchange,
  type ExchangeOpener,
  type ExchangeRequestHead,
  type ExchangeSink,
  type ExchangeTarget,
} from './exchange-api';
import { TunnelRegistry } from './tunnel-registry';

/** Why a tunnel's runtime state changed: an agent came or went, or it sent a health report. */
export type TunnelRuntimeChange = 'agent' | 'health';

export interface BrokerOptions {
  authenticator: AgentAuthenticator;
  /** Told whenever a tunnel's runtime state changes (feeds WatchProviders). */
  onTunnelChange?: (tunnelId: string, userId: string, change: TunnelRuntimeChange) => void;
  logger: Logger;
  /** Names this broker in agents' logs ("st-server on host:port"). */
  brokerId: string;
  session?: Omit<AgentSessionOptions, 'brokerId'>;
  /** How long an admitted agent has to send Register. */
  registerTimeoutMs?: number;
  /** Agent streams per tunnel, draining and connecting ones included; 0 or absent = no limit (ST_MAX_STREAMS_PER_TUNNEL). */
  maxStreamsPerTunnel?: number;
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
  private readonly connecting = new Set<AgentSession>();
  /** Names this broker to agents; set again once the port is bound (ST_GRPC_PORT may be 0). */
  brokerId: string;

  constructor(private readonly options: BrokerOptions) {
    this.logger = options.logger;
    this.brokerId = options.brokerId;
  }

  /** The grpc-js implementation of sessiontunnel.v1.TunnelService. */
  readonly tunnelService: TunnelServiceServer = {
    connect: (call: AgentCall) => {
      this.acceptAgent(call).catch((err: unknown) => {
        this.logger.error({ err }, 'admitting an agent failed');
        endCall(call, status.INTERNAL, 'the broker failed to admit the agent; it will retry');
      });
    },
  };

  open(target: ExchangeTarget, head: ExchangeRequestHead, sink: ExchangeSink): Exchange {
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
    const sessions = this.registry.sessionsOf(tunnelId);
    const health = this.registry.healthOf(tunnelId);
    if (sessions.length === 0 && !health) return NO_AGENT_VIEW;
    return {
      connected: this.registry.isConnected(tunnelId),
      health,
      connections: sessions.map((s) => ({
        brokerId: this.brokerId,
        streamId: s.connectionId,
        agentInstanceId: s.agentInstanceId,
        since: s.since,
        draining: !s.available,
        health: s.health,
      })),
    };
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
    const connecting = [...this.connecting].filter((s) => s.tunnel.id === tunnelId);
    for (const session of [...this.registry.sessionsOf(tunnelId), ...connecting]) {
      session.close(reason, { code, details: reason });
    }
  }

  /**
   * Tells every agent to reconnect elsewhere (or later), lets open exchanges finish for up to
   * `graceMs`, then closes what is left. Agents reconnect on their own once a broker is back.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.shuttingDown = true;
    const sessions = [...this.registry.all(), ...this.connecting];
    for (const s of sessions) s.drain('broker shutting down');
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && sessions.some((s) => s.load > 0)) {
      await new Promise((r) => setTimeout(r, 25));
    }
    for (const s of sessions) {
      s.close('broker shutting down', { code: status.UNAVAILABLE, details: 'broker shutting down: reconnect' });
    }
  }

  /** Streams of a tunnel: routable, draining and still registering. */
  private streamCount(tunnelId: string): number {
    let n = this.registry.sessionsOf(tunnelId).length;
    for (const s of this.connecting) if (s.tunnel.id === tunnelId) n++;
    return n;
  }

  private async acceptAgent(call: AgentCall): Promise<void> {
    const peer = call.getPeer();
    if (this.shuttingDown) {
      endCall(call, status.UNAVAILABLE, 'broker shutting down: reconnect');
      return;
    }
    const token = bearerFromMetadata(call.metadata);
    if (!token) {
      endCall(
        call,
        status.UNAUTHENTICATED,
        'no agent token: set ST_TUNNEL_TOKEN to the token shown when the tunnel was created',
      );
      return;
    }
    const admission = await this.options.authenticator.admitAgent(token);
    if ('refused' in admission) {
      this.logger.warn({ peer, refused: admission.refused, tunnelId: 'tunnelId' in admission ? admission.tunnelId : undefined }, 'agent refused');
      const refusal = refusalStatus(admission);
      endCall(call, refusal.code, refusal.details);
      return;
    }
    const { tunnel } = admission;
    // Counted and added in the same turn of the event loop as this check: no two agents pass together.
    const maxStreams = this.options.maxStreamsPerTunnel ?? 0;
    if (maxStreams > 0 && this.streamCount(tunnel.id) >= maxStreams) {
      this.logger.warn({ peer, tunnelId: tunnel.id, maxStreams }, 'agent refused: too many streams for its tunnel (ST_MAX_STREAMS_PER_TUNNEL)');
      endCall(
        call,
        status.RESOURCE_EXHAUSTED,
        `tunnel ${tunnel.id} already has ${maxStreams} agent streams open (ST_MAX_STREAMS_PER_TUNNEL): stop the extra st-agent processes of this tunnel; this one retries`,
      );
      return;
    }
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
      { brokerId: this.brokerId, ...this.options.session },
      logger,
      {
        ready: (s) => {
          clearTimeout(registerTimer);
          // Admission is checked again before the stream becomes routable: the tunnel may have
          // been stopped or deleted while the agent registered, and revocation only sees
          // routable streams and the ones in `connecting`.
          this.options.authenticator.admitAgent(token).then(
            (again) => {
              this.connecting.delete(s);
              if (!s.isOpen) return;
              if ('refused' in again) {
                const refusal = refusalStatus(again);
                s.close(refusal.details, refusal);
                return;
              }
              this.registry.add(s);
              this.options.onTunnelChange?.(s.tunnel.id, s.tunnel.userId, 'agent');
            },
            (err: unknown) => {
              this.connecting.delete(s);
              logger.error({ err }, 'admitting the agent again failed');
              s.close('admission failed', { code: status.INTERNAL, details: 'the broker failed to admit the agent; it will retry' });
            },
          );
        },
        closed: (s) => {
          this.connecting.delete(s);
          clearTimeout(registerTimer);
          const wasListed = this.registry.remove(s);
          if (wasListed) this.options.onTunnelChange?.(s.tunnel.id, s.tunnel.userId, 'agent');
        },
        // A draining agent no longer makes its tunnel `running` (isConnected is false): say so now,
        // not only once its stream closes.
        draining: (s) => this.options.onTunnelChange?.(s.tunnel.id, s.tunnel.userId, 'agent'),
        health: (s, report) => {
          const before = this.registry.healthOf(s.tunnel.id);
          const after = healthFromReport(report);
          s.health = after;
          this.registry.setHealth(s.tunnel.id, after);
          // A first report arrives before the stream is routable: the 'agent' change that follows
          // carries it. Later, only a different verdict or model list is a change worth pushing.
          if (s.available && !sameHealth(before, after)) this.options.onTunnelChange?.(s.tunnel.id, s.tunnel.userId, 'health');
        },
      },
    );
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

/** The gRPC status that refuses an agent, with the cause and the fix. */
function refusalStatus(refusal: AgentRefusal): { code: status; details: string } {
  switch (refusal.refused) {
    case 'unknown_token':
      return {
        code: status.UNAUTHENTICATED,
        details:
          'the agent token is not valid: its tunnel was deleted or the token was replaced; create the tunnel again (or rotate its token) and give st-agent the new token',
      };
    case 'tunnel_stopped':
      return { code: status.FAILED_PRECONDITION, details: `tunnel ${refusal.tunnelId} is stopped: start the tunnel and the agent will connect` };
    case 'session_stopped':
      return {
        code: status.FAILED_PRECONDITION,
        details: `session ${refusal.sessionId} of tunnel ${refusal.tunnelId} is stopped: restart the session and its tunnel, and the agent will connect`,
      };
  }
}

function noAgentError(tunnelId: string, shuttingDown: boolean): TunnelError {
  return new TunnelError(
    'no_agent',
    shuttingDown
      ? `tunnel ${tunnelId} is not available: the broker is restarting; retry in a few seconds`
      : `tunnel ${tunnelId} has no connected agent: start st-agent in the session (or check its logs: token, broker address, network)`,
  );
}

function sameHealth(a: TunnelHealth | undefined, b: TunnelHealth): boolean {
  return a !== undefined && a.healthy === b.healthy && a.error === b.error && a.models.join('\n') === b.models.join('\n');
}

function drainingError(tunnelId: string): TunnelError {
  return new TunnelError(
    'draining',
    `the agent of tunnel ${tunnelId} is stopping and takes no new requests: retry once it is back (systemd restarts it, or start st-agent again)`,
  );
}

function endCall(call: AgentCall, code: status, details: string): void {
  call.emit('error', { code, details });
}
