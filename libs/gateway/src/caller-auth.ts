import type { IncomingHttpHeaders } from 'node:http';
import type { Tunnel, User } from '@st/store';

/** The part of the store the gateway needs. */
export interface GatewayStore {
  authenticateApiKey(apiKey: string): Promise<User | null>;
  getTunnelForUser(userId: string, tunnelId: string): Promise<Tunnel | null>;
}

/** The API key from `Authorization: Bearer <key>`, or undefined. */
export function bearerFromHeaders(headers: IncomingHttpHeaders): string | undefined {
  const value = headers.authorization;
  if (!value) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(value);
  return match ? match[1] : undefined;
}
