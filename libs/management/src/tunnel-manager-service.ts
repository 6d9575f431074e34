import { requireUser } from '@st/auth';
import { describeTunnel } from '@st/discovery';
import type { TunnelManagerServiceServer, Tunnel as TunnelMessage } from '@st/proto';
import type { Tunnel } from '@st/store';
import { notFound, precondition, unary } from './grpc-unary';
import type { ManagementDeps } from './management-deps';
import { checkHost, checkName, checkPort } from './validation';

/**
 * sessiontunnel.v1.TunnelManagerService: a user's tunnels. Every state change is published on the
 * change feed (WatchProviders, caches) and stopping or deleting drops the tunnel's agents at once.
 */
export function createTunnelManagerService(deps: ManagementDeps): TunnelManagerServiceServer {
  // deps.publicUrl is read per call: with ST_HTTP_PORT=0 it is only known once the gateway listens.
  const { store, auth, logger, feed, runtime } = deps;
  const mine = async (userId: string, id: string): Promise<Tunnel> => {
    const tunnel = await store.getTunnelForUser(userId, id);
    if (!tunnel) throw notFound('tunnel', id);
    return tunnel;
  };
  const view = async (tunnel: Tunnel): Promise<TunnelMessage> =>
    describeTunnel(tunnel, tunnel.sessionId ? await store.getSession(tunnel.sessionId) : null, await runtime.viewOf(tunnel.id), deps.publicUrl);

  return {
    createTunnel: unary(logger, async (call) => {
      const user = await requireUser(call.metadata, auth);
      const req = call.request;
      const session = await store.getSessionForUser(user.id, req.sessionId);
      if (!session) throw notFound('session', req.sessionId);
      if (session.state !== 'running') throw precondition(`session ${session.id} is stopped: restart it before creating tunnels for it`);
      const remotePort = checkPort(req.remotePort || 8000);
      const { tunnel, agentToken } = await store.createTunnel({
        userId: user.id,
        sessionId: session.id,
        name: checkName('tunnel', req.name || `${session.name}-${remotePort}`),
        remotePort,
        remoteHost: checkHost(req.remoteHost || 'localhost'),
        openai: req.openai,
        upstreamKeyCiphertext: req.upstreamApiKey ? deps.seal(req.upstreamApiKey) : undefined,
      });
      feed.publish({ kind: 'tunnel', userId: user.id, tunnelId: tunnel.id, reason: 'created' });
      logger.info({ userId: user.id, tunnelId: tunnel.id, sessionId: session.id, openai: tunnel.openai }, 'tunnel created');
      return { tunnel: await view(tunnel), agentToken };
    }),
    getTunnel: unary(logger, async (call) => {
      const user = await requireUser(call.metadata, auth);
      return { tunnel: await view(await mine(user.id, call.request.id)) };
    }),
    listTunnels: unary(logger, async (call) => {
      const user = await requireUser(call.metadata, auth);
      const { sessionId } = call.request;
      if (sessionId && !(await store.getSessionForUser(user.id, sessionId))) throw notFound('session', sessionId);
      const tunnels = sessionId ? await store.listTunnelsOfSession(user.id, sessionId) : await store.listTunnels(user.id);
      return { tunnels: await Promise.all(tunnels.map(view)) };
    }),
    startTunnel: unary(logger, async (call) => {
      const user = await requireUser(call.metadata, auth);
      const tunnel = await mine(user.id, call.request.id);
      const session = tunnel.sessionId ? await store.getSession(tunnel.sessionId) : null;
      if (session && session.state !== 'running') {
        throw precondition(`session ${session.id} of tunnel ${tunnel.id} is stopped: restart the session first, then the tunnel`);
      }
      const started = (await store.setTunnelState(user.id, tunnel.id, 'started'))!;
      feed.publish({ kind: 'tunnel', userId: user.id, tunnelId: tunnel.id, reason: 'updated' });
      return { tunnel: await view(started) };
    }),
    stopTunnel: unary(logger, async (call) => {
      const user = await requireUser(call.metadata, auth);
      const tunnel = await mine(user.id, call.request.id);
      const stopped = (await store.setTunnelState(user.id, tunnel.id, 'stopped'))!;
      feed.publish({ kind: 'tunnel', userId: user.id, tunnelId: tunnel.id, reason: 'updated' });
      return { tunnel: await view(stopped) };
    }),
    rotateTunnelToken: unary(logger, async (call) => {
      const user = await requireUser(call.metadata, auth);
      // One scoped statement: another user's tunnel answers exactly like a missing one.
      const agentToken = await store.rotateAgentTokenForUser(user.id, call.request.id);
      if (agentToken === null) throw notFound('tunnel', call.request.id);
      const tunnel = await mine(user.id, call.request.id);
      // Revocation drops the streams admitted with the old token (the agents exit 3).
      feed.publish({ kind: 'tunnel', userId: user.id, tunnelId: tunnel.id, reason: 'token_rotated' });
      logger.info({ userId: user.id, tunnelId: tunnel.id }, 'tunnel agent token rotated');
      return { tunnel: await view(tunnel), agentToken };
    }),
    deleteTunnel: unary(logger, async (call) => {
      const user = await requireUser(call.metadata, auth);
      const tunnel = await mine(user.id, call.request.id);
      await store.deleteTunnel(user.id, tunnel.id);
      feed.publish({ kind: 'tunnel', userId: user.id, tunnelId: tunnel.id, reason: 'deleted' });
      logger.info({ userId: user.id, tunnelId: tunnel.id }, 'tunnel deleted');
      return {};
    }),
  };
}
