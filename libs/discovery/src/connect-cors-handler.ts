import type { IncomingMessage, ServerResponse } from 'node:http';
import { cors } from '@connectrpc/connect';
import type { Logger } from '@st/logging';

type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Wraps a connect-node handler for browsers: CORS headers for the allowed origins (`*` allows
 * any), preflights answered here (403 for an origin not allowed), and a handler that throws
 * answered 500 instead of taking the HTTP server down.
 */
export function withConnectCors(handler: NodeHandler, corsOrigins: readonly string[], logger: Logger): NodeHandler {
  const allowed = new Set(corsOrigins);
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
