import type { Store, User } from '@st/store';
import type { AdminToken } from './admin-token';
import { bearerSecret } from './bearer';

/** Who is calling: the admin, or a user (by one of their API keys). */
export type Caller = { kind: 'admin' } | { kind: 'user'; user: User };

/** Why a caller was refused; the message says what to send instead. */
export class CallerAuthError extends Error {
  override readonly name = 'CallerAuthError';
}

/**
 * Resolves `Authorization: Bearer …` to a caller. The admin token is compared in constant time;
 * API keys are looked up by digest. Agent tokens are never callers here.
 */
/** What caller authentication needs. */
export interface AuthDeps {
  store: Pick<Store, 'authenticateApiKey'>;
  admin: AdminToken;
}

export async function authenticateCaller(authorization: string | undefined, deps: AuthDeps): Promise<Caller> {
  const secret = bearerSecret(authorization);
  if (!secret) {
    throw new CallerAuthError('missing credentials: send "authorization: Bearer <API key>" (stctl: set ST_API_KEY, or ST_ADMIN_TOKEN for admin commands)');
  }
  if (await deps.admin.matches(secret)) return { kind: 'admin' };
  const user = await deps.store.authenticateApiKey(secret);
  if (!user) throw new CallerAuthError('the API key is not valid (unknown or revoked): ask the admin for a new one');
  return { kind: 'user', user };
}
