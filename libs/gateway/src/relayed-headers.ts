import type { OutgoingHttpHeaders } from 'node:http';
import type { Header } from '@st/proto';
import { isHopByHop } from '@st/tunnel-protocol';
import { droppedOnApiAnswers } from './response-head';

/** Content types whose every write is flushed at once (cloudflared learned this the hard way). */
const STREAMING_TYPES = /^(text\/event-stream|application\/x-ndjson|application\/grpc)/i;
const EVENT_STREAM = /^text\/event-stream/i;

export interface RelayedHead {
  headers: OutgoingHttpHeaders;
  /** Every write is flushed at once (SSE, NDJSON, gRPC). */
  streaming: boolean;
  /** text/event-stream: a break-off can be reported in-band as an error event. */
  eventStream: boolean;
}

/**
 * The agent's response headers as the gateway writes them to the client, built in one pass: no
 * hop-by-hop headers; on an API answer no cookies or CORS grants and `nosniff` added; on a
 * streamed answer no content-length and no buffering by proxies in front of us; our request id.
 * Repeated names become arrays, as node:http wants them.
 */
export function relayedHead(headers: Header[], requestId: string, apiAnswer: boolean): RelayedHead {
  let contentType: string | undefined;
  for (const h of headers) {
    if (h.name === 'content-type') {
      contentType = h.value;
      break;
    }
  }
  const streaming = contentType !== undefined && STREAMING_TYPES.test(contentType);
  const out: Record<string, string | string[]> = {};
  for (const { name, value } of headers) {
    if (isHopByHop(name) || (apiAnswer && droppedOnApiAnswers(name)) || (streaming && name === 'content-length')) continue;
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [prev, value];
  }
  out['x-request-id'] = requestId;
  if (apiAnswer) out['x-content-type-options'] = 'nosniff';
  if (streaming) {
    // Proxies in front of us buffer event streams unless told not to.
    out['cache-control'] = 'no-cache';
    out['x-accel-buffering'] = 'no';
  }
  return { headers: out, streaming, eventStream: streaming && EVENT_STREAM.test(contentType!) };
}
