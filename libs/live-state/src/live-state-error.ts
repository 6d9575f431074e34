import { ReplyError } from 'ioredis';

/**
 * Redis could not be reached in time (down, reconnecting, or not answering within the command
 * timeout). Callers treat it as "shared state unknown right now": keep serving what they hold,
 * route from their last known view, report readiness as degraded. Retrying later can help.
 */
export class LiveStateUnavailableError extends Error {
  override readonly name = 'LiveStateUnavailableError';

  constructor(operation: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`shared live state unavailable (${operation}): Redis at ST_REDIS_URL did not answer (${reason}); check that Redis is running and reachable`, {
      cause,
    });
  }
}

/**
 * Connection-level failures become {@link LiveStateUnavailableError}; a reply error (WRONGTYPE,
 * a script error) is a bug in our key layout, not an outage, and is passed on as it is.
 */
export function asLiveStateError(operation: string, err: unknown): Error {
  if (err instanceof ReplyError) return err as Error;
  return new LiveStateUnavailableError(operation, err);
}
