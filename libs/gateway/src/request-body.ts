import type { IncomingMessage } from 'node:http';
import { TunnelError } from '@st/tunnel-protocol';
import type { BodyDeadline } from './body-deadline';

/**
 * Reads a whole request body up to `limit` bytes. JSON bodies are read whole because they are
 * small (a chat request is KiBs), must be validated before anything is sent to a model, and
 * then travel in the exchange's Open frame with no further round trips. A `deadline` that
 * expires (stalled or trickling body) rejects with its 408 error.
 */
export function readBody(req: IncomingMessage, limit: number, deadline?: BodyDeadline): Promise<Buffer> {
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
      chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
    req.on('error', (err) => reject(new TunnelError('cancelled', `the client's request body broke off: ${err.message}`)));
  });
}

export function tooLarge(limit: number): TunnelError {
  return new TunnelError(
    'payload_too_large',
    `the request body is larger than the gateway's limit of ${limit} bytes (ST_MAX_BODY): send a smaller request`,
  );
}

/** True for bodies the gateway validates as JSON (OpenAI's API is JSON except file uploads). */
export function isJsonRequest(contentType: string | undefined): boolean {
  if (!contentType) return true;
  return /^application\/(.+\+)?json\b/i.test(contentType.trim());
}

/** A 400 for a body that is not JSON, with where it broke. */
export function validateJson(body: Buffer): TunnelError | undefined {
  if (body.length === 0) return new TunnelError('bad_request', 'the request body is empty: send a JSON object');
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      return new TunnelError('bad_request', 'the request body must be a JSON object');
    }
    return undefined;
  } catch (err) {
    return new TunnelError('bad_request', `the request body is not valid JSON: ${(err as Error).message}`);
  }
}
