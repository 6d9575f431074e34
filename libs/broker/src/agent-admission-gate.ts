import { status } from '@grpc/grpc-js';
import { bearerFromMetadata } from '@st/grpc-kit';
import type { Logger } from '@st/logging';
import type { AdmittedTunnel, AgentAuthenticator } from './agent-authenticator';
import type { AgentCall } from './agent-session';
import { endCall, refusalStatus } from './broker-answers';
import type { BrokerMeter } from './broker-meter';

/** What the broker lends the gate: its state at the moment an agent dials. */
export interface AdmissionGateContext {
  shuttingDown: boolean;
  authenticator: AgentAuthenticator;
  /** ST_MAX_STREAMS_PER_TUNNEL; 0 = no limit. */
  maxStreamsPerTunnel: number;
  /** Streams the tunnel has now: routable, draining and still registering. */
  streamCount(tunnelId: string): number;
  logger: Logger;
  meter?: BrokerMeter;
}

/** An agent let through: its token (for the check again before it becomes routable) and tunnel. */
export interface AdmittedCall {
  token: string;
  admission: { tunnel: AdmittedTunnel };
}

/**
 * The checks before an agent's stream is read at all: the broker is not stopping, the call has a
 * token, the token admits a tunnel, and the tunnel has room for another stream. A refused call is
 * ended here with the status and the fix; undefined then.
 */
export async function admitAgentCall(call: AgentCall, gate: AdmissionGateContext): Promise<AdmittedCall | undefined> {
  const peer = call.getPeer();
  if (gate.shuttingDown) {
    endCall(call, status.UNAVAILABLE, 'broker shutting down: reconnect');
    return undefined;
  }
  const token = bearerFromMetadata(call.metadata);
  if (!token) {
    endCall(call, status.UNAUTHENTICATED, 'no agent token: set ST_TUNNEL_TOKEN to the token shown when the tunnel was created');
    return undefined;
  }
  const admission = await gate.authenticator.admitAgent(token);
  if ('refused' in admission) {
    gate.logger.warn({ peer, refused: admission.refused, tunnelId: 'tunnelId' in admission ? admission.tunnelId : undefined }, 'agent refused');
    const refusal = refusalStatus(admission);
    endCall(call, refusal.code, refusal.details);
    return undefined;
  }
  const { tunnel } = admission;
  // The caller adds the stream in the same turn of the event loop as this count: no two agents pass together.
  const maxStreams = gate.maxStreamsPerTunnel;
  if (maxStreams > 0 && gate.streamCount(tunnel.id) >= maxStreams) {
    gate.logger.warn({ peer, tunnelId: tunnel.id, maxStreams }, 'agent refused: too many streams for its tunnel (ST_MAX_STREAMS_PER_TUNNEL)');
    gate.meter?.refused('streams_per_tunnel');
    endCall(
      call,
      status.RESOURCE_EXHAUSTED,
      `tunnel ${tunnel.id} already has ${maxStreams} agent streams open (ST_MAX_STREAMS_PER_TUNNEL): stop the extra st-agent processes of this tunnel; this one retries`,
    );
    return undefined;
  }
  return { token, admission };
}
