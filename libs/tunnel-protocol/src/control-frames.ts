import type { AgentFrame, BrokerFrame } from '@st/proto';

/**
 * Frames that go ahead of queued body frames (FrameSender's control queue), as HTTP/2 sends
 * WINDOW_UPDATE, RST_STREAM and PING ahead of DATA. None of them is ordered against the Data of
 * its own exchange in a way that matters: a Credit concerns the other direction, and a Cancel
 * (or an agent's ExchangeError) drops that exchange's queued frames instead of passing them.
 */
const BROKER_CONTROL = new Set(['credit', 'cancel', 'ping', 'pong', 'drain']);
const AGENT_CONTROL = new Set(['credit', 'pong', 'error']);

export function isBrokerControlFrame(frame: BrokerFrame): boolean {
  return frame.frame !== undefined && BROKER_CONTROL.has(frame.frame.$case);
}

export function isAgentControlFrame(frame: AgentFrame): boolean {
  return frame.frame !== undefined && AGENT_CONTROL.has(frame.frame.$case);
}

/** The exchange a frame belongs to, or undefined for stream-level frames. */
export function exchangeIdOf(frame: AgentFrame | BrokerFrame): number | undefined {
  const f = frame.frame;
  if (!f) return undefined;
  const value: unknown = f.value;
  if (typeof value === 'object' && value !== null && 'exchangeId' in value) {
    const id = (value as { exchangeId: unknown }).exchangeId;
    return typeof id === 'number' ? id : undefined;
  }
  return undefined;
}
