import { status } from '@grpc/grpc-js';
import { TunnelError } from '@st/tunnel-protocol';
import type { AgentRefusal } from './agent-authenticator';
import type { AgentCall } from './agent-session';

/*
 * What the broker answers when it refuses an agent or cannot route an exchange: one place for the
 * gRPC codes and for the messages, which say the cause and the fix.
 */

/** The gRPC status that refuses an agent, with the cause and the fix. */
export function refusalStatus(refusal: AgentRefusal): { code: status; details: string } {
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

export function noAgentError(tunnelId: string, shuttingDown: boolean): TunnelError {
  return new TunnelError(
    'no_agent',
    shuttingDown
      ? `tunnel ${tunnelId} is not available: the broker is restarting; retry in a few seconds`
      : `tunnel ${tunnelId} has no connected agent: start st-agent in the session (or check its logs: token, broker address, network)`,
  );
}

export function drainingError(tunnelId: string): TunnelError {
  return new TunnelError(
    'draining',
    `the agent of tunnel ${tunnelId} is stopping and takes no new requests: retry once it is back (systemd restarts it, or start st-agent again)`,
  );
}

export function endCall(call: AgentCall, code: status, details: string): void {
  call.emit('error', { code, details });
}
