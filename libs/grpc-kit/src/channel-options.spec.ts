import { describe, expect, it } from 'vitest';
import {
  CLIENT_KEEPALIVE_OPTIONS,
  CLIENT_KEEPALIVE_TIME_MS,
  CLIENT_KEEPALIVE_TIMEOUT_MS,
  SERVER_KEEPALIVE_OPTIONS,
  SERVER_MIN_PING_INTERVAL_MS,
} from './channel-options';

describe('keepalive settings', () => {
  it('let the server permit pings strictly more often than the client sends them (no GOAWAY too_many_pings)', () => {
    expect(SERVER_MIN_PING_INTERVAL_MS).toBeLessThan(CLIENT_KEEPALIVE_TIME_MS);
    // A margin for timers that fire early or late on a busy host.
    expect(CLIENT_KEEPALIVE_TIME_MS - SERVER_MIN_PING_INTERVAL_MS).toBeGreaterThanOrEqual(2_000);
    expect(SERVER_KEEPALIVE_OPTIONS['grpc.http2.min_ping_interval_without_data_ms']).toBe(SERVER_MIN_PING_INTERVAL_MS);
    // The agent pings with or without calls, so the server must not count pings between calls.
    expect(CLIENT_KEEPALIVE_OPTIONS['grpc.keepalive_permit_without_calls']).toBe(1);
    expect(SERVER_KEEPALIVE_OPTIONS['grpc.http2.max_pings_without_data']).toBe(0);
  });

  it('notice a dead broker or a half-open connection within 15 s', () => {
    expect(CLIENT_KEEPALIVE_TIME_MS + CLIENT_KEEPALIVE_TIMEOUT_MS).toBeLessThanOrEqual(15_000);
  });
});
