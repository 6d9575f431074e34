import type { IncomingMessage, ServerResponse } from 'node:http';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { withConnectCors } from './connect-cors-handler';
import { type AuthDeps, CallerAuthError, authenticateCaller } from '@st/auth';
import type { Logger } from '@st/logging';
import type { Provider } from '@st/proto';
import { ProviderChange as EsProviderChange, ProviderDiscoveryService, TunnelStatus as EsTunnelStatus } from '@st/proto/es';
import type { ProviderDirectory, ProviderEvent } from './provider-directory';
import { WatchLimitError } from './watch-quota';

export interface DiscoveryConnectOptions {
  directory: ProviderDirectory;
  auth: AuthDeps;
  logger: Logger;
  /** Browser origins allowed to call (ST_CORS_ORIGINS); empty: no cross-origin access. */
  corsOrigins: string[];
}

/** Events a watcher may leave unread before its watch is ended (it re-syncs by watching again). */
const MAX_QUEUED_EVENTS = 1_000;

/** URL prefix of the Connect routes on the gateway's HTTP port. */
export const DISCOVERY_CONNECT_PREFIX = `/${ProviderDiscoveryService.typeName}/`;

/**
 * ProviderDiscoveryService for browsers, over the Connect protocol on the gateway's HTTP port,
 * with CORS for the configured origins. Same directory, same answers as the gRPC face.
 */
export function createDiscoveryConnectHandler(options: DiscoveryConnectOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { directory, auth, logger } = options;
  const routes = (router: ConnectRouter) =>
    router.service(ProviderDiscoveryService, {
      async listProviders(_req, context) {
        const userId = await userOf(context.requestHeader.get('authorization'), auth);
        return { providers: (await directory.list(userId)).map(toConnect) };
      },
      async *watchProviders(_req, context) {
        const userId = await userOf(context.requestHeader.get('authorization'), auth);
        const queue: ProviderEvent[] = [];
        let wake: (() => void) | undefined;
        let overflow = false;
        const watch = watchOrRefuse(() =>
          directory.watch(userId, (event) => {
            // A watcher that stops reading must not make the server hold events without bound.
            if (queue.length >= MAX_QUEUED_EVENTS) overflow = true;
            else queue.push(event);
            wake?.();
          }),
        );
        const stop = () => wake?.();
        context.signal.addEventListener('abort', stop);
        try {
          while (!context.signal.aborted) {
            if (overflow) throw new ConnectError('the watch fell too far behind: watch again to re-sync', Code.ResourceExhausted);
            const event = queue.shift();
            if (event) {
              // Both generators number enums from the same .proto; only their TS types differ.
              yield { change: event.change as number as EsProviderChange, provider: event.provider ? toConnect(event.provider) : undefined };
              continue;
            }
            await new Promise<void>((resolve) => (wake = resolve));
            wake = undefined;
          }
        } finally {
          context.signal.removeEventListener('abort', stop);
          watch.close();
        }
      },
    });
  // The route is public (authentication happens inside the methods, after decoding): requests here
  // are empty messages, so refuse big or compressed bodies before anyone can make us inflate them.
  const handler = connectNodeAdapter({ routes, readMaxBytes: 64 * 1024, acceptCompression: [] });
  return withConnectCors(handler, options.corsOrigins, logger);
}

async function userOf(authorization: string | null, auth: AuthDeps): Promise<string> {
  try {
    const caller = await authenticateCaller(authorization ?? undefined, auth);
    if (caller.kind !== 'user') throw new ConnectError("providers belong to users: use the user's API key", Code.PermissionDenied);
    return caller.user.id;
  } catch (err) {
    if (err instanceof CallerAuthError) throw new ConnectError(err.message, Code.Unauthenticated);
    throw err;
  }
}

/** Connect's resource_exhausted for a watch over the user's limit. */
function watchOrRefuse<T>(watch: () => T): T {
  try {
    return watch();
  } catch (err) {
    if (err instanceof WatchLimitError) throw new ConnectError(err.message, Code.ResourceExhausted);
    throw err;
  }
}

/** ts-proto's Provider as protobuf-es wants it (Timestamp message instead of Date). */
function toConnect(p: Provider) {
  return {
    ...p,
    status: p.status as number as EsTunnelStatus,
    lastHealthCheck: p.lastHealthCheck ? timestampFromDate(p.lastHealthCheck) : undefined,
    connections: p.connections.map((c) => ({ ...c, since: c.since ? timestampFromDate(c.since) : undefined })),
  };
}
