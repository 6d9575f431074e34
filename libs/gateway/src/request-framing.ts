import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The connection is closed once the (error) answer is out, whether or not its head was sent or
 * the answer already ended: the rest of a stalled body must not keep the socket.
 */
export function closeAfterAnswer(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  if (res.writableEnded) socket.destroy();
  else if (!res.headersSent) res.setHeader('connection', 'close'); // Node closes it after the 408
  else res.once('finish', () => socket.destroy());
}

/** Whether the request carries a body (by its framing headers; GET and HEAD never do here). */
export function hasBody(req: IncomingMessage): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return false;
  const length = req.headers['content-length'];
  return length !== undefined ? length !== '0' : req.headers['transfer-encoding'] !== undefined;
}
