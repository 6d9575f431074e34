import { type Client, type Interceptor, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-web';
import { ProviderDiscoveryService, UsageService } from '@st/proto/es';

export type DiscoveryClient = Client<typeof ProviderDiscoveryService>;
export type UsageClient = Client<typeof UsageService>;

export interface ConsoleClients {
  discovery: DiscoveryClient;
  usage: UsageClient;
}

/**
 * Connect clients for the gateway this page came from (same origin: no CORS, and the CSP's
 * connect-src 'self' allows exactly that), authenticated with the user's API key in the
 * `authorization` header.
 */
export function createConsoleClients(apiKey: string): ConsoleClients {
  const auth: Interceptor = (next) => (req) => {
    req.header.set('authorization', `Bearer ${apiKey}`);
    return next(req);
  };
  const transport = createConnectTransport({
    baseUrl: window.location.origin,
    interceptors: [auth],
    // JSON on the wire: readable in the browser's network panel, and what the README shows.
    useBinaryFormat: false,
    fetch: (input, init) => globalThis.fetch(input, { ...init, credentials: 'omit' }),
  });
  return { discovery: createClient(ProviderDiscoveryService, transport), usage: createClient(UsageService, transport) };
}
