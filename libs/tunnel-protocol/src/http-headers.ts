import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Header } from '@st/proto';

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection, not the message: forwarding them
 * breaks framing (transfer-encoding) or keeps dead connections open (connection, keep-alive).
 * `host` is the proxy's own and is set again by the agent's HTTP client.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'http2-settings',
]);

/** True when a header must not cross a hop. */
export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name);
}

/**
 * Node's headers as wire headers, without hop-by-hop ones, the headers named in `Connection`, and
 * any name in `drop` (the caller's credentials, for example).
 */
export function toWireHeaders(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>, drop?: ReadonlySet<string>): Header[] {
  const named = connectionTokens(headers['connection']);
  const out: Header[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || drop?.has(name)) continue;
    if (named !== undefined && (typeof named === 'string' ? named === name : named.has(name))) continue;
    if (Array.isArray(value)) for (const v of value) out.push({ name, value: v });
    else out.push({ name, value: String(value) });
  }
  return out;
}

/** Wire headers as an object for node:http or undici (repeated names become arrays). */
export function fromWireHeaders(headers: Header[], drop?: ReadonlySet<string>): OutgoingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (const { name, value } of headers) {
    if (HOP_BY_HOP.has(name) || drop?.has(name)) continue;
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [prev, value];
  }
  return out;
}

/** The value of the first header called `name`, or undefined. */
export function headerValue(headers: Header[], name: string): string | undefined {
  for (const h of headers) if (h.name === name) return h.value;
  return undefined;
}

/**
 * The names a `Connection` header lists, lower-cased: one name as a string (nearly every request
 * says just "keep-alive" or "close": no Set, no split per request), several as a Set, or undefined.
 */
export function connectionTokens(value: string | string[] | undefined): string | ReadonlySet<string> | undefined {
  if (!value) return undefined;
  if (typeof value === 'string' && !value.includes(',')) {
    const token = value.trim().toLowerCase();
    return token === '' ? undefined : token;
  }
  const text = Array.isArray(value) ? value.join(',') : value;
  return new Set(text.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean));
}
