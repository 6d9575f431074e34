import { requireAdmin } from '@st/auth';
import type { User as UserMessage, UserServiceServer } from '@st/proto';
import type { User } from '@st/store';
import { notFound, unary } from './grpc-unary';
import type { ManagementDeps } from './management-deps';
import { checkName } from './validation';

/** sessiontunnel.v1.UserService: the admin manages users and their API keys. */
export function createUserService(deps: ManagementDeps): UserServiceServer {
  const { store, auth, logger } = deps;
  return {
    createUser: unary(logger, async (call) => {
      await requireAdmin(call.metadata, auth);
      const user = await store.createUser(checkName('user', call.request.name));
      const { apiKey } = await store.createApiKey(user.id);
      logger.info({ userId: user.id, name: user.name }, 'user created');
      return { user: userMessage(user), apiKey };
    }),
    listUsers: unary(logger, async (call) => {
      await requireAdmin(call.metadata, auth);
      return { users: (await store.listUsers()).map(userMessage) };
    }),
    createApiKey: unary(logger, async (call) => {
      await requireAdmin(call.metadata, auth);
      if (!(await store.getUser(call.request.userId))) throw notFound('user', call.request.userId);
      const { apiKey } = await store.createApiKey(call.request.userId);
      return { apiKey };
    }),
    revokeApiKeys: unary(logger, async (call) => {
      await requireAdmin(call.metadata, auth);
      if (!(await store.getUser(call.request.userId))) throw notFound('user', call.request.userId);
      const revoked = await store.revokeAllApiKeys(call.request.userId);
      deps.feed.publish({ kind: 'user', userId: call.request.userId, reason: 'keys_revoked' });
      logger.info({ userId: call.request.userId, revoked }, 'API keys revoked');
      return { revoked };
    }),
  };
}

function userMessage(user: User): UserMessage {
  return { id: user.id, name: user.name, createTime: new Date(user.createdAt) };
}
