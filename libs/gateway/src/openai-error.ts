import type { ServerResponse } from 'node:http';
import type { TunnelError } from '@st/tunnel-protocol';
import { httpErrorFor } from './http-error-table';

/** OpenAI's error body, the one shape AI Chat understands from every provider. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export function openAIErrorBody(message: string, type: string, code: string | null, param: string | null = null): OpenAIErrorBody {
  return { error: { message, type, param, code } };
}

/** Answers with an OpenAI error body, unless the response has already started. */
export function sendOpenAIError(
  res: ServerResponse,
  status: number,
  body: OpenAIErrorBody,
  requestId: string,
  extraHeaders?: Record<string, string>,
): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-request-id': requestId,
    ...extraHeaders,
  });
  res.end(text);
}

/** Answers with the OpenAI error for a TunnelError (status, type and code from the one table). */
export function sendTunnelError(res: ServerResponse, error: TunnelError, requestId: string): void {
  const mapped = httpErrorFor(error.kind);
  const retryAfter = error.retryAfterSeconds ?? (mapped.status === 503 ? 5 : undefined);
  const headers = retryAfter === undefined ? undefined : { 'retry-after': String(retryAfter) };
  sendOpenAIError(res, mapped.status, openAIErrorBody(error.message, mapped.type, mapped.code), requestId, headers);
}
