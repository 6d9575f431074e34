import { TunnelError } from '@st/tunnel-protocol';
import { type Admission, type LimitCounters, type LimitKey, type RequestLimits, bucketSize } from './limit-counters';

/** An admitted request's hold on its open slots; `release` may be called any number of times. */
export interface LimitTicket {
  release(): void;
}

const NO_TICKET: LimitTicket = { release: () => undefined };

/**
 * Decides whether one more request of a user to a tunnel may open an exchange, and says why
 * not in OpenAI's 429 terms: which limit, its setting, and when to retry. The answer is
 * immediate when the counters are (in memory), a promise only when they are shared.
 */
export class RequestLimiter {
  private readonly any: boolean;

  constructor(
    private readonly counters: LimitCounters,
    private readonly limits: RequestLimits,
  ) {
    this.any = limits.tunnelConcurrency > 0 || limits.userConcurrency > 0 || limits.userRps > 0;
  }

  /** A ticket to release when the exchange ends in any way, or the 429 to answer. */
  admit(userId: string, tunnelId: string): LimitTicket | TunnelError | Promise<LimitTicket | TunnelError> {
    if (!this.any) return NO_TICKET;
    const key: LimitKey = { userId, tunnelId };
    const admission = this.counters.admit(key, this.limits);
    return admission instanceof Promise ? admission.then((a) => this.ticketFor(key, a)) : this.ticketFor(key, admission);
  }

  private ticketFor(key: LimitKey, admission: Admission): LimitTicket | TunnelError {
    if (admission.admitted) {
      let held = true;
      return {
        release: () => {
          if (!held) return;
          held = false;
          this.counters.release(key);
        },
      };
    }
    const retryAfterSeconds = Math.max(1, Math.ceil(admission.retryAfterMs / 1000));
    const { tunnelConcurrency, userConcurrency, userRps } = this.limits;
    const message =
      admission.limit === 'tunnel_concurrency'
        ? `tunnel ${key.tunnelId} has ${tunnelConcurrency} requests open (ST_LIMIT_TUNNEL_CONCURRENCY): retry when some finish`
        : admission.limit === 'user_concurrency'
          ? `you have ${userConcurrency} requests open across your tunnels (ST_LIMIT_USER_CONCURRENCY): retry when some finish`
          : `you sent more than ${userRps} requests per second (bursts of up to ${bucketSize(this.limits)}; ST_LIMIT_USER_RPS, ST_LIMIT_USER_BURST): retry after ${retryAfterSeconds} s`;
    return new TunnelError('rate_limited', message, { retryAfterSeconds });
  }
}
