import { type IncomingHttpHeaders, type Server, type ServerResponse, createServer } from 'node:http';
import type { Socket } from 'node:net';

/** A request an {@link HttpRecorder} received, body included. */
export interface RecordedRequest {
  method: string;
  /** The request target as it arrived: path and query. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A small HTTP server inside the test process that keeps every request it gets. */
export interface HttpRecorder {
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/** How a recorder answers; the request is already recorded. */
export type RecorderHandler = (req: RecordedRequest, res: ServerResponse) => void;

const open = new Set<HttpRecorder>();

/**
 * Starts a recorder on a free port of 127.0.0.1. Without a handler it answers every request
 * with 200 and a JSON echo of what it received.
 */
export async function startHttpRecorder(handler: RecorderHandler = echo): Promise<HttpRecorder> {
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(recorded);
      handler(recorded, res);
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const recorder: HttpRecorder = {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        open.delete(recorder);
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
  open.add(recorder);
  return recorder;
}

/** Closes every recorder still open (cleanupAll calls it). */
export async function closeAllRecorders(): Promise<void> {
  await Promise.all([...open].map((r) => r.close()));
}

function echo(req: RecordedRequest, res: ServerResponse): void {
  const text = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: req.body });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
