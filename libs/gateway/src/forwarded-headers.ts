import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Header } from '@st/proto';

/**
 * Forwarding headers a caller may not set: the gateway is the proxy here, so only it says who
 * called, over what and for which host. A caller's own would tell a model server (or a plain
 * tunnel's web app) a client address or origin that is not true.
 */
export const CALLER_FORWARDING_HEADERS: readonly string[] = ['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'forwarded', 'x-real-ip'];

/** The forwarding headers the gateway sets itself for one request. */
export function forwardingHeaders(req: IncomingMessage): Header[] {
  const out: Header[] = [];
  const address = req.socket.remoteAddress;
  if (address) out.push({ name: 'x-forwarded-for', value: address });
  out.push({ name: 'x-forwarded-proto', value: (req.socket as Partial<TLSSocket>).encrypted ? 'https' : 'http' });
  const host = req.headers.host;
  if (host) out.push({ name: 'x-forwarded-host', value: host });
  return out;
}
