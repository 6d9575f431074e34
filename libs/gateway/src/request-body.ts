import type { IncomingMessage } from 'node:http';
import { TunnelError } from '@st/tunnel-protocol';
import type { BodyWatch } from './deferred-body-deadline';
import { type JsonScanError, JsonObjectScanner } from './json-object-scanner';

/**
 * Reads a whole request body up to `limit` bytes. JSON bodies are read whole (see
 * {@link readJsonBody}) because they are small (a chat request is KiBs), must be validated before
 * anything is sent to a model, and then travel in the exchange's Open frame with no further
 * round trips. A `deadline` that expires (stalled or trickling body) rejects with its 408 error;
 * `keep` sees each chunk as it arrives and may refuse it.
 */
export function readBody(req: IncomingMessage, limit: number, deadline?: BodyWatch, keep?: (chunk: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    deadline?.onExpire((error) => {
      req.removeAllListeners('data');
      chunks.length = 0;
      reject(error);
    });
    req.on('data', (chunk: Buffer) => {
      deadline?.bytes(chunk.length);
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(tooLarge(limit));
        return;
      }
      // A chunk `keep` refuses is counted but not kept: the body is being read only to its end.
      if (keep && !keep(chunk)) return;
      chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
    req.on('error', (err) => reject(new TunnelError('cancelled', `the client's request body broke off: ${err.message}`)));
  });
}

/**
 * The whole body at once when it has all arrived already and nobody has read from it: a small
 * body mostly comes in the same packet as the head, so by the time the gateway has looked up the
 * caller and the tunnel it sits in the request's buffer. Taking it from there skips the stream's
 * flowing mode (a tick per event), the listeners and the promise of {@link readBody}, with the
 * same limit and the same `keep`. Undefined when the body must be read as it comes.
 */
export function bufferedBody(req: IncomingMessage, limit: number, keep?: (chunk: Buffer) => boolean): Buffer | TunnelError | undefined {
  if (!req.complete || req.readableFlowing !== null || req.readableEnded || req.readableObjectMode) return undefined;
  const body = (req.read() as Buffer | null) ?? EMPTY;
  if (body.length > limit) return tooLarge(limit);
  if (keep && body.length > 0) keep(body);
  return body;
}

const EMPTY = Buffer.alloc(0);

export function tooLarge(limit: number): TunnelError {
  return new TunnelError(
    'payload_too_large',
    `the request body is larger than the gateway's limit of ${limit} bytes (ST_MAX_BODY): send a smaller request`,
  );
}

/** True for bodies the gateway validates as JSON (OpenAI's API is JSON except file uploads). */
export function isJsonRequest(contentType: string | undefined): boolean {
  if (!contentType || contentType === 'application/json') return true;
  return /^application\/(.+\+)?json\b/i.test(contentType.trim());
}

/**
 * Reads a JSON body up to `limit` bytes, checking it chunk by chunk as it arrives (no chunk's
 * check holds the event loop for long, and nothing is parsed). A body that fails the check is
 * still read to its end, without being kept, so that the 400 reaches a client that is still
 * sending; the scanner says where the top-level "model" is for the unified endpoint.
 */
export async function readJsonBody(
  req: IncomingMessage,
  limit: number,
  maxDepth: number,
  deadline?: BodyWatch,
): Promise<{ body: Buffer; scanner: JsonObjectScanner }> {
  const scanner = new JsonObjectScanner(maxDepth);
  const keep = (chunk: Buffer): boolean => scanner.push(chunk) === undefined;
  const buffered = bufferedBody(req, limit, keep);
  if (buffered instanceof TunnelError) throw buffered;
  const body = buffered ?? (await readBody(req, limit, deadline, keep));
  const error = scanner.end();
  if (error) throw jsonError(error, maxDepth);
  return { body, scanner };
}

/** The 400 for a body that is not one JSON object: where it broke and what was expected, never its text. */
export function jsonError(error: JsonScanError, maxDepth: number): TunnelError {
  switch (error.kind) {
    case 'empty':
      return new TunnelError('bad_request', 'the request body is empty: send a JSON object');
    case 'not_object':
      return new TunnelError('bad_request', `the request body must be a JSON object (it does not start with '{', byte ${error.offset})`);
    case 'too_deep':
      return new TunnelError(
        'bad_request',
        `the request body nests JSON deeper than the limit of ${maxDepth} levels (byte ${error.offset}; ST_MAX_JSON_DEPTH): send a flatter body`,
      );
    case 'syntax':
      return new TunnelError('bad_request', `the request body is not valid JSON: expected ${error.expected} at byte ${error.offset}`);
  }
}

/** A 400 for a whole body that is not one JSON object (the same check as {@link readJsonBody}). */
export function validateJson(body: Buffer, maxDepth = DEFAULT_MAX_JSON_DEPTH): TunnelError | undefined {
  const scanner = new JsonObjectScanner(maxDepth);
  const error = scanner.push(body) ?? scanner.end();
  return error ? jsonError(error, maxDepth) : undefined;
}

/** ST_MAX_JSON_DEPTH's default: far above any chat request, far below what costs anything. */
export const DEFAULT_MAX_JSON_DEPTH = 128;
