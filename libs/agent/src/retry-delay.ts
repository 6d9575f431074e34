import * as grpc from '@grpc/grpc-js';
import type { ReconnectBackoff } from './reconnect-backoff';

/**
 * While the broker refuses us because the tunnel or its session is stopped, retry this often
 * (jittered down to 3/4 of it) instead of backing off: a stop is usually followed by a restart
 * (the scheduler's `sessions restart`), and the tunnel should serve again within about a second of
 * it, not after a backoff grown to 30 s. One indexed lookup per agent per second is cheap.
 */
export const STOPPED_RETRY_MS = 1_000;

/** The broker's refusal of a stopped tunnel or session (libs/broker refusalStatus). */
export function refusedAsStopped(code: grpc.status, reason: string): boolean {
  return code === grpc.status.FAILED_PRECONDITION && /\bis stopped\b/.test(reason);
}

/**
 * How long to wait before the next attempt, and why. A refusal as stopped neither uses nor grows
 * the backoff, so the first real failure after it still starts small.
 */
export function retryDelay(
  outcome: { code: grpc.status; reason: string; welcomed?: boolean },
  backoff: ReconnectBackoff,
  random: () => number = Math.random,
): { delayMs: number; waitingForStart: boolean } {
  if (refusedAsStopped(outcome.code, outcome.reason)) {
    return { delayMs: Math.round(STOPPED_RETRY_MS * (0.75 + random() / 4)), waitingForStart: true };
  }
  // UNAVAILABLE: no broker answered (nothing listens, or it is shutting down); the first retry
  // after a stream that served is quick however it ended (see ReconnectBackoff.connectionLost).
  return { delayMs: backoff.next(outcome.code === grpc.status.UNAVAILABLE || outcome.welcomed === true), waitingForStart: false };
}
