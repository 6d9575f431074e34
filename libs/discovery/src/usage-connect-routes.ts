import type { IncomingMessage, ServerResponse } from 'node:http';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { withConnectCors } from './connect-cors-handler';
import { type AuthDeps, CallerAuthError, authenticateCaller } from '@st/auth';
import type { Logger } from '@st/logging';
import { UsageService } from '@st/proto/es';
import type { UsageStore } from './usage-grpc-service';
import { UsageRefusal, usageQueryFor, usageRowOf } from './usage-query';

export interface UsageConnectOptions {
  store: UsageStore;
  auth: AuthDeps;
  logger: Logger;
  /** Browser origins allowed to call (ST_CORS_ORIGINS); empty: no cross-origin access. */
  corsOrigins: string[];
}

/** URL prefix of the Connect route on the gateway's (or discovery's) HTTP port. */
export const USAGE_CONNECT_PREFIX = `/${UsageService.typeName}/`;

/**
 * UsageService for browsers (the web console's usage view), over the Connect protocol on the
 * gateway's HTTP port, with the same authentication and CORS as discovery's Connect face.
 */
export function createUsageConnectHandler(options: UsageConnectOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { store, auth, logger } = options;
  const routes = (router: ConnectRouter) =>
    router.service(UsageService, {
      async getUsage(req, context) {
        try {
          const caller = await authenticateCaller(context.requestHeader.get('authorization') ?? undefined, auth);
          const since = req.since ? timestampDate(req.since) : undefined;
          const rows = await store.queryUsage(usageQueryFor(caller, { since, groupBy: req.groupBy, allUsers: req.allUsers }));
          return {
            usage: rows.map((r) => {
              const row = usageRowOf(r);
              return { ...row, promptTokens: BigInt(row.promptTokens), completionTokens: BigInt(row.completionTokens), requests: BigInt(row.requests) };
            }),
          };
        } catch (err) {
          if (err instanceof CallerAuthError) throw new ConnectError(err.message, Code.Unauthenticated);
          if (err instanceof UsageRefusal) throw new ConnectError(err.message, err.reason === 'permission' ? Code.PermissionDenied : Code.InvalidArgument);
          logger.error({ err }, 'GetUsage failed');
          throw new ConnectError('reading usage failed in the control plane (its store); see its log', Code.Internal);
        }
      },
    });
  // Requests are tiny: refuse big or compressed bodies before anyone can make us inflate them.
  const handler = connectNodeAdapter({ routes, readMaxBytes: 4 * 1024, acceptCompression: [] });
  return withConnectCors(handler, options.corsOrigins, logger);
}
