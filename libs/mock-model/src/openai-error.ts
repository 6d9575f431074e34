import type { ServerResponse } from 'node:http';

/** The `error.type` values this server uses, following OpenAI's names where it has one. */
export type OpenAiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'server_error'
  | 'service_unavailable';

/** A request the server refuses, before any generation starts. */
export interface RequestProblem {
  status: number;
  message: string;
  type: OpenAiErrorType;
  param: string | null;
}

/** A 400 `invalid_request_error` naming the offending field. */
export function badRequest(message: string, param: string | null = null): RequestProblem {
  return { status: 400, message, type: 'invalid_request_error', param };
}

/** Writes a complete JSON answer with a content-length, so keep-alive connections stay reusable. */
export function sendJson(res: ServerResponse, status: number, json: string): void {
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(json),
  });
  res.end(json);
}

/**
 * OpenAI's error envelope `{"error":{"message","type","param","code"}}`. `code` is the HTTP
 * status, as vLLM sets it, so clients that read either field find something sensible.
 */
export function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  type: OpenAiErrorType,
  param: string | null = null,
): void {
  sendJson(res, status, JSON.stringify({ error: { message, type, param, code: status } }));
}

export function sendProblem(res: ServerResponse, problem: RequestProblem): void {
  sendError(res, problem.status, problem.message, problem.type, problem.param);
}
