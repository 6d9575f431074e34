import type { AgentMeter } from './agent-meter';
import type { Logger } from '@st/logging';
import type { AgentFrame, Welcome } from '@st/proto';
import {
  DEFAULT_HEALTH_INTERVAL_MS,
  DEFAULT_MAX_CHUNK_BYTES,
  DEFAULT_PING_INTERVAL_MS,
  DEFAULT_RECEIVE_WINDOW,
  type FrameSender,
  GrowthBudget,
  STREAM_WINDOW_GROWTH_BYTES,
  exchangeIdOf,
  processGrowthBudget,
  windowLimitFor,
} from '@st/tunnel-protocol';
import type { UpstreamClient } from './upstream-client';
import type { ExchangeContext } from './upstream-exchange';

/** Where the model server is when neither ST_UPSTREAM_URL nor the tunnel says. */
const FALLBACK_UPSTREAM_URL = 'http://127.0.0.1:8000';

/** What a Welcome sets for the stream besides its exchanges' context. */
export interface WelcomeTerms {
  /** The model server actually used: ST_UPSTREAM_URL over the tunnel's address. */
  upstreamUrl: string;
  /** How often the broker pings (the silence check's unit). */
  pingIntervalMs: number;
  /** How often to report health, or undefined for a plain HTTP tunnel (no probes). */
  healthIntervalMs: number | undefined;
  /** Headers every upstream request carries (the model server's own key). */
  extraHeaders: Record<string, string>;
}

/** Reads the stream's terms from the broker's Welcome (older brokers leave fields at 0). */
export function welcomeTerms(welcome: Welcome, upstreamOverride: string | undefined): WelcomeTerms {
  return {
    upstreamUrl: upstreamOverride || welcome.upstreamUrl || FALLBACK_UPSTREAM_URL,
    pingIntervalMs: welcome.pingIntervalMs || DEFAULT_PING_INTERVAL_MS,
    healthIntervalMs: welcome.plainHttp ? undefined : welcome.healthIntervalMs || DEFAULT_HEALTH_INTERVAL_MS,
    // The model server's own key replaces the caller's credentials, which never leave the gateway.
    extraHeaders: welcome.upstreamApiKey ? { authorization: `Bearer ${welcome.upstreamApiKey}` } : {},
  };
}

/** What the exchanges of one stream share, as the Welcome configured it. */
export function exchangeContextFor(
  welcome: Welcome,
  terms: WelcomeTerms,
  sender: FrameSender<AgentFrame>,
  upstream: UpstreamClient,
  remove: (id: number) => void,
  logger: Logger,
  meter?: AgentMeter,
): ExchangeContext {
  return {
    meter,
    extraHeaders: terms.extraHeaders,
    plainHttp: welcome.plainHttp,
    send: (frame) => {
      // An ExchangeError goes ahead of queued data (a control frame): the exchange's own
      // queued frames would arrive after it, for an exchange the broker has already ended.
      if (frame.frame?.$case === 'error') {
        const id = frame.frame.value.exchangeId;
        if (sender.pending > 0) sender.dropQueued((f) => exchangeIdOf(f) === id);
      }
      sender.send(frame);
    },
    beforeFlush: (producer) => sender.beforeFlush(producer),
    remove,
    upstream,
    brokerWindow: welcome.receiveWindow || DEFAULT_RECEIVE_WINDOW,
    agentWindow: DEFAULT_RECEIVE_WINDOW,
    // A protocol-2 broker lets our request-body windows grow while the model server keeps up.
    agentWindowLimit: windowLimitFor(welcome.protocolVersion || 1, DEFAULT_RECEIVE_WINDOW),
    growthBudget: new GrowthBudget(STREAM_WINDOW_GROWTH_BYTES, processGrowthBudget),
    maxChunkBytes: welcome.maxChunkBytes || DEFAULT_MAX_CHUNK_BYTES,
    logger,
  };
}
