import { requireUser } from '@st/auth';
import { type Session as SessionMessage, SessionStatus, type SessionServiceServer } from '@st/proto';
import type { Session } from '@st/store';
import { notFound, unary } from './grpc-unary';
import type { ManagementDeps } from './management-deps';
import { checkName } from './validation';

/**
 * sessiontunnel.v1.SessionService: a user's compute sessions. Stopping a session stops its
 * tunnels and drops their agents at once; restarting it starts again the tunnels that the stop
 * stopped (the store remembers which), so a scheduler's stop/restart pair leaves things as they
 * were. A tunnel the user stopped on its own stays stopped.
 */
export function createSessionService(deps: ManagementDeps): SessionServiceServer {
  const { store, auth, logger, feed } = deps;
  const mine = async (userId: string, id: string): Promise<Session> => {
    const session = await store.getSessionForUser(userId, id);
    if (!session) throw notFound('session', id);
    return session;
  };
  return {
    startSession: unary(logger, async (call) => {
      const user = await requireUser(call.metadata, auth);
      const session = await store.createSession(user.id, checkName('session', call.request.name));
      feed.publish({ kind: 'session', userId: user.id, sessionId: session.id, reason: 'started' });
      logger.info({ userId: user.id, sessionId: session.id }, 'session started');
      return { session: sessionMessage(session) };
    }),
    restartSession: unary(logger, async (call) => {
      const user = await requireUser(call.metadata, auth);
      await mine(user.id, call.request.id);
      const session = (await store.setSessionState(user.id, call.request.id, 'running'))!;
      const restarted = await store.restartTunnelsOfSession(user.id, session.id);
      feed.publish({ kind: 'session', userId: user.id, sessionId: session.id, reason: 'started' });
      for (const tunnel of restarted) feed.publish({ kind: 'tunnel', userId: user.id, tunnelId: tunnel.id, reason: 'updated' });
      logger.info({ userId: user.id, sessionId: session.id, restartedTunnels: restarted.length }, 'session restarted');
      return { session: sessionMessage(session), restartedTunnelIds: restarted.map((t) => t.id) };
    }),
    stopSession: unary(logger, async (call) => {
      const user = await requireUser(call.metadata, auth);
      await mine(user.id, call.request.id);
      const session = (await store.setSessionState(user.id, call.request.id, 'stopped'))!;
      // The tunnels stop with their session, marked so that a restart starts them again;
      // revocation (a change-feed subscriber) drops the agents.
      await store.stopTunnelsOfSession(user.id, session.id);
      feed.publish({ kind: 'session', userId: user.id, sessionId: session.id, reason: 'stopped' });
      logger.info({ userId: user.id, sessionId: session.id }, 'session stopped');
      return { session: sessionMessage(session) };
    }),
    getSession: unary(logger, async (call) => {
      const user = await requireUser(call.metadata, auth);
      return { session: sessionMessage(await mine(user.id, call.request.id)) };
    }),
    listSessions: unary(logger, async (call) => {
      const user = await requireUser(call.metadata, auth);
      return { sessions: (await store.listSessions(user.id)).map(sessionMessage) };
    }),
  };
}

export function sessionMessage(session: Session): SessionMessage {
  return {
    id: session.id,
    name: session.name,
    status: session.state === 'running' ? SessionStatus.SESSION_STATUS_RUNNING : SessionStatus.SESSION_STATUS_STOPPED,
    createTime: new Date(session.createdAt),
    updateTime: new Date(session.updatedAt),
  };
}
