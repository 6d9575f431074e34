import type { IncomingHttpHeaders } from 'node:http';
import { bearerSecret } from '@st/auth';
import type { TunnelHealth } from '@st/broker';
import type { Store } from '@st/store';

/** The part of the store the gateway needs. */
export type GatewayStore = Pick<Store, 'authenticateApiKey' | 'getTunnelForUser' | 'getTunnelByName' | 'getSession' | 'listTunnels'>;

/** What the gateway needs to know about tunnels at run time (the broker, or its remote view). */
export interface GatewayRuntime {
  isConnected(tunnelId: string): boolean;
  healthOf(tunnelId: string): TunnelHealth | undefined;
}

/** The API key from `Authorization: Bearer <key>`, or undefined. */
export function bearerFromHeaders(headers: IncomingHttpHeaders): string | undefined {
  return bearerSecret(headers.authorization);
}
