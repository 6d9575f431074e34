import type { IncomingHttpHeaders } from 'node:http';
import { bearerSecret } from '@st/auth';
import type { Store } from '@st/store';

/** The part of the store the gateway needs. */
export type GatewayStore = Pick<Store, 'authenticateApiKey' | 'getTunnelForUser' | 'getTunnelByName' | 'getSession' | 'listTunnels'>;

/** What the gateway needs to know about tunnels at run time (the broker, or shared presence). */
export type { TunnelRuntime as GatewayRuntime } from '@st/live-state';

/** The API key from `Authorization: Bearer <key>`, or undefined. */
export function bearerFromHeaders(headers: IncomingHttpHeaders): string | undefined {
  return bearerSecret(headers.authorization);
}
