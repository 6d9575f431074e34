import * as grpc from '@grpc/grpc-js';

/** Why the broker cuts an agent stream: what it logs, the status the agent gets, what callers get. */
export interface StreamCut {
  /** The stream's close reason (the "agent stream closed" line). */
  reason: string;
  /** The warn line, when the cut deserves one. */
  warning?: string;
  status: { code: grpc.status; details: string };
  /** The message of the exchanges failed with the stream, when the default does not fit. */
  exchangeMessage?: string;
}

/** A peer over one of the stream's limits, saying which. */
export function overLimitCut(limit: string, what: string, context: string): StreamCut {
  return {
    reason: `the agent sent more than ${limit}`,
    warning: `agent stream over the limit of ${limit}: cut with RESOURCE_EXHAUSTED`,
    status: { code: grpc.status.RESOURCE_EXHAUSTED, details: `too many ${what}: the broker allows ${limit} (${context}); the stream was cut` },
  };
}

/** A peer that does not read its stream: more than ST_STREAM_QUEUE_LIMIT is held towards it. */
export function queueOverflowCut(limit: number, tunnelId: string): StreamCut {
  const size = formatBytes(limit);
  return {
    reason: `the broker's queue towards the agent passed ST_STREAM_QUEUE_LIMIT (${size})`,
    warning: `agent stream over ST_STREAM_QUEUE_LIMIT (${size} queued towards it): the agent does not read its stream; cut with RESOURCE_EXHAUSTED`,
    status: {
      code: grpc.status.RESOURCE_EXHAUSTED,
      details: `the broker's queue towards this stream passed ST_STREAM_QUEUE_LIMIT (${size}): the agent did not read its stream; the stream was cut`,
    },
    exchangeMessage: `the agent of tunnel ${tunnelId} stopped reading its stream and the broker cut it (more than ST_STREAM_QUEUE_LIMIT, ${size}, queued towards it); the request was not completed: retry once the agent has reconnected`,
  };
}

function formatBytes(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

/** Nothing came from the agent for 2.5 ping intervals: its receive loop is stuck or the link dead. */
export const SILENT_AGENT_CUT: StreamCut = {
  reason: 'the agent answered no ping for too long',
  status: { code: grpc.status.DEADLINE_EXCEEDED, details: 'the agent answered no ping: reconnect' },
};

/** The first frame was not Register (an agent of another protocol, or no agent at all). */
export const REGISTER_FIRST_CUT: StreamCut = {
  reason: 'first frame was not Register',
  status: { code: grpc.status.INVALID_ARGUMENT, details: 'the first frame on the tunnel stream must be Register: upgrade st-agent' },
};
