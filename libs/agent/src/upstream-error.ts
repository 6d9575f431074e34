import { ExchangeErrorCode } from '@st/proto';

/** Errno codes that mean "nothing accepts connections there" (not started, loading, wrong port). */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** Codes that mean the server took the connection and then dropped it without an answer. */
const DROPPED_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

/** The ExchangeError for a failure to get a response head from the model server. */
export function describeRequestFailure(origin: string, err: unknown): { code: ExchangeErrorCode; message: string } {
  const e = err as { code?: string; cause?: { code?: string }; message?: string };
  const code = e.code ?? e.cause?.code ?? '';
  if (UNREACHABLE_CODES.has(code)) {
    return {
      code: ExchangeErrorCode.EXCHANGE_ERROR_CODE_UPSTREAM_UNREACHABLE,
      message: `the model server at ${origin} is unreachable from the agent (${code}): start it in the session, or check the tunnel's host and port`,
    };
  }
  if (DROPPED_CODES.has(code)) {
    return {
      code: ExchangeErrorCode.EXCHANGE_ERROR_CODE_UPSTREAM_RESET,
      message: `the model server at ${origin} closed the connection without answering (${code}): check its logs`,
    };
  }
  return {
    code: ExchangeErrorCode.EXCHANGE_ERROR_CODE_UPSTREAM_UNREACHABLE,
    message: `the request to the model server at ${origin} failed: ${e.message ?? String(err)}`,
  };
}

/** The ExchangeError for an answer that broke off after it had started. */
export function describeResponseFailure(origin: string, err: unknown): { code: ExchangeErrorCode; message: string } {
  const e = err as { code?: string; message?: string };
  return {
    code: ExchangeErrorCode.EXCHANGE_ERROR_CODE_UPSTREAM_RESET,
    message: `the model server at ${origin} broke off its answer (${e.code ?? e.message ?? 'connection lost'}): the response is incomplete`,
  };
}
