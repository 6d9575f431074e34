import type { Header } from '@st/proto';
import { isHopByHop } from '@st/tunnel-protocol';

/** Request headers never sent to the model server (the gateway strips them too; belt and braces). */
const DROP_REQUEST = new Set(['authorization', 'expect', 'content-length', 'x-request-id']);

/**
 * The headers of one upstream request, as the flat `[name, value, name, value, …]` list undici's
 * dispatch takes as is: the exchange's headers without hop-by-hop ones and those above, then the
 * agent's own (`extra`, the model server's API key, in place of any the caller sent under the same
 * names) and the request id. No object is built per request only for undici to take it apart
 * again; repeated names stay repeated lines, as on the wire.
 */
export function upstreamRequestHeaders(headers: Header[], requestId: string, extra?: Readonly<Record<string, string>>): string[] {
  const out: string[] = [];
  for (const { name, value } of headers) {
    if (isHopByHop(name) || DROP_REQUEST.has(name) || (extra !== undefined && Object.hasOwn(extra, name))) continue;
    out.push(name, value);
  }
  if (extra !== undefined) for (const name of Object.keys(extra)) out.push(name, extra[name]);
  out.push('x-request-id', requestId);
  return out;
}
