import { type Metadata, status } from '@grpc/grpc-js';
import type { User } from '@st/store';
import { type AuthDeps, CallerAuthError, authenticateCaller } from './caller';

/** An error that ends a gRPC call with a status code and a message. */
export class GrpcStatusError extends Error {
  override readonly name = 'GrpcStatusError';
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}

/** The calling user, from `authorization` metadata; the admin token is not a user. */
export async function requireUser(metadata: Metadata, deps: AuthDeps): Promise<User> {
  const caller = await callerOf(metadata, deps);
  if (caller.kind !== 'user') {
    throw new GrpcStatusError(status.PERMISSION_DENIED, 'this call acts on a user\'s own resources: use that user\'s API key (ST_API_KEY), not the admin token');
  }
  return caller.user;
}

/** Passes only the admin. */
export async function requireAdmin(metadata: Metadata, deps: AuthDeps): Promise<void> {
  const caller = await callerOf(metadata, deps);
  if (caller.kind !== 'admin') throw new GrpcStatusError(status.PERMISSION_DENIED, 'only the admin may manage users: use ST_ADMIN_TOKEN');
}

async function callerOf(metadata: Metadata, deps: AuthDeps) {
  const value = metadata.get('authorization')[0];
  try {
    return await authenticateCaller(typeof value === 'string' ? value : undefined, deps);
  } catch (err) {
    if (err instanceof CallerAuthError) throw new GrpcStatusError(status.UNAUTHENTICATED, err.message);
    throw err;
  }
}
