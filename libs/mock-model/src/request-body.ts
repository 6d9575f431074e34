import type { IncomingMessage } from 'node:http';

/** vLLM's default limit is larger, but 10 MiB is far above any prompt this mock is sent. */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;

/**
 * Reads the whole body, calling `done(undefined)` when it is larger than `limit`. An oversized
 * body is still drained (not kept) so the 413 reaches a client that is still uploading instead
 * of a reset connection.
 */
export function readBody(req: IncomingMessage, limit: number, done: (body: Buffer | undefined) => void): void {
  const declared = Number(req.headers['content-length']);
  let tooLarge = declared > limit;
  let first: Buffer | undefined;
  let chunks: Buffer[] | undefined;
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    if (tooLarge) return;
    size += chunk.length;
    if (size > limit) {
      tooLarge = true;
      first = undefined;
      chunks = undefined;
    } else if (first === undefined) {
      first = chunk;
    } else {
      (chunks ??= [first]).push(chunk);
    }
  });
  req.on('end', () => {
    if (tooLarge) done(undefined);
    else done(chunks ? Buffer.concat(chunks, size) : (first ?? Buffer.alloc(0)));
  });
}
