import type { IncomingMessage, ServerResponse } from 'node:http';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type ConnectRouter, cors } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
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
  const allowed = new Set(options.corsOrigins);
  return (req, res) => {
    const origin = req.headers.origin;
    if (origin && (allowed.has(origin) || allowed.has('*'))) {
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('vary', 'Origin');
      res.setHeader('access-control-allow-methods', cors.allowedMethods.join(', '));
      res.setHeader('access-control-allow-headers', [...cors.allowedHeaders, 'Authorization'].join(', '));
      res.setHeader('access-control-expose-headers', cors.exposedHeaders.join(', '));
      res.setHeader('access-control-max-age', '7200');
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(origin && !res.hasHeader('access-control-allow-origin') ? 403 : 204);
      res.end();
      return;
    }
    try {
      handler(req, res);
    } catch (err) {
      logger.error({ err }, 'connect handler failed');
      if (!res.headersSent) res.writeHead(500).end();
    }
  };
}
