import type { Header } from '@st/proto';
import { connectionTokens, isHopByHop } from '@st/tunnel-protocol';

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

/**
 * The model server's response headers, from undici's raw `[name, value, …]` buffers, as wire
 * headers: names lower-cased, values as latin1 (the bytes as they came, as undici's own parsing
 * does), without hop-by-hop headers and those the `Connection` header names. One pass, no object.
 */
export function wireHeadersFromRaw(raw: readonly (Buffer | string)[]): Header[] {
  let named: string | ReadonlySet<string> | undefined;
  const out: Header[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = headerName(raw[i]);
    const value = raw[i + 1].toString('latin1');
    if (name === 'connection') {
      named = mergeTokens(named, value);
      continue;
    }
    if (isHopByHop(name)) continue;
    out.push({ name, value });
  }
  if (named === undefined) return out;
  const tokens = named;
  return out.filter((h) => (typeof tokens === 'string' ? tokens !== h.name : !tokens.has(h.name)));
}

function headerName(raw: Buffer | string): string {
  return (typeof raw === 'string' ? raw : raw.toString('latin1')).toLowerCase();
}

function mergeTokens(previous: string | ReadonlySet<string> | undefined, value: string): string | ReadonlySet<string> | undefined {
  const tokens = connectionTokens(value);
  if (previous === undefined || tokens === undefined) return tokens ?? previous;
  const merged = new Set(typeof previous === 'string' ? [previous] : previous);
  for (const t of typeof tokens === 'string' ? [tokens] : tokens) merged.add(t);
  return merged;
}
