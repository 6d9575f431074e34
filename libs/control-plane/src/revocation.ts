import { status } from '@grpc/grpc-js';
import type { ChangeFeed } from '@st/events';
import type { Logger } from '@st/logging';
import type { Store } from '@st/store';

/** What revocation acts on: the broker's live agent streams. */
export interface StreamDropper {
  /** `code`: the gRPC status the agents get (default PERMISSION_DENIED: they retry). */
  disconnectTunnel(tunnelId: string, reason: string, code?: status): void;
  /** Forgets what the broker knew of a deleted tunnel (its last health report). */
  forgetTunnel(tunnelId: string): void;
}

/**
 * Drops the agent streams of tunnels that may no longer serve, driven by the change feed like
 * every other consumer of changes: a stopped session, a stopped or deleted tunnel, a rotated
 * token (its agents get UNAUTHENTICATED, so st-agent exits 3 instead of retrying). Whoever made
 * the change (stctl, the scheduler, another process, whose events arrive over Redis pub) need not
 * know where the agents are connected.
 */
export function startRevocation(feed: ChangeFeed, store: Store, broker: StreamDropper, logger: Logger): () => void {
  let chain: Promise<void> = Promise.resolve();
  return feed.subscribe((event) => {
    chain = chain
      .then(async () => {
        if (event.kind === 'session' && event.reason === 'stopped') {
          for (const tunnel of await store.listTunnelsOfSession(event.userId, event.sessionId)) {
            broker.disconnectTunnel(tunnel.id, `session ${event.sessionId} was stopped: restart the session and its tunnel`);
          }
        } else if (event.kind === 'tunnel' && event.reason === 'deleted') {
          broker.disconnectTunnel(event.tunnelId, `tunnel ${event.tunnelId} was deleted`);
          broker.forgetTunnel(event.tunnelId);
        } else if (event.kind === 'tunnel' && event.reason === 'token_rotated') {
          // Every stream of the tunnel was admitted with a token that no longer works: the new
          // token cannot be in use yet (it was only just shown), so nothing valid is dropped.
          broker.disconnectTunnel(
            event.tunnelId,
            `the agent token of tunnel ${event.tunnelId} was replaced (stctl tunnels rotate-token): give st-agent the new token`,
            status.UNAUTHENTICATED,
          );
        } else if (event.kind === 'tunnel' && event.reason === 'updated') {
          const tunnel = await store.getTunnel(event.tunnelId);
          if (tunnel?.state === 'stopped') broker.disconnectTunnel(tunnel.id, `tunnel ${tunnel.id} was stopped: start the tunnel again`);
        }
      })
      .catch((err: unknown) => logger.error({ err, event }, 'revocation failed'));
  });
}
