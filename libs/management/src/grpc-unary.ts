import { type ServerUnaryCall, type sendUnaryData, status } from '@grpc/grpc-js';
import { GrpcStatusError } from '@st/auth';
import type { Logger } from '@st/logging';
import { StoreConflictError, StoreNotFoundError } from '@st/store';

/**
 * Adapts an async handler to grpc-js's unary callback, mapping every failure to a status in one
 * place: conflicts are ALREADY_EXISTS, missing rows NOT_FOUND, our own statuses as they are, and
 * anything else INTERNAL with the details only in the log.
 */
export function unary<Req, Res>(
  logger: Logger,
  handler: (call: ServerUnaryCall<Req, Res>) => Promise<Res>,
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
  return (call, callback) => {
    // Ids and names never hold control characters (PostgreSQL refuses NUL outright): such a
    // request names nothing that exists.
    if (namesSomethingImpossible(call.request)) {
      callback({ code: status.NOT_FOUND, details: 'no such resource: ids and names contain no control characters' });
      return;
    }
    handler(call).then(
      (response) => callback(null, response),
      (err: unknown) => callback(toStatus(err, logger)),
    );
  };
}

function toStatus(err: unknown, logger: Logger): { code: status; details: string } {
  if (err instanceof GrpcStatusError) return { code: err.code, details: err.message };
  if (err instanceof StoreConflictError) return { code: status.ALREADY_EXISTS, details: err.message };
  if (err instanceof StoreNotFoundError) return { code: status.NOT_FOUND, details: err.message };
  logger.error({ err }, 'management call failed');
  return { code: status.INTERNAL, details: 'internal error in the control plane; see its log' };
}

/** True when an id or name field of a request holds a control character. */
function namesSomethingImpossible(request: unknown): boolean {
  if (!request || typeof request !== 'object') return false;
  for (const [field, value] of Object.entries(request)) {
     
    if (field !== 'upstreamApiKey' && typeof value === 'string' && /[\u0000-\u001f\u007f]/.test(value)) return true;
  }
  return false;
}

/** NOT_FOUND worded the same for a missing id and for someone else's. */
export function notFound(kind: 'session' | 'tunnel' | 'user', id: string): GrpcStatusError {
  return new GrpcStatusError(status.NOT_FOUND, `${kind} ${JSON.stringify(id.slice(0, 80))} not found`);
}

export function invalid(message: string): GrpcStatusError {
  return new GrpcStatusError(status.INVALID_ARGUMENT, message);
}

export function precondition(message: string): GrpcStatusError {
  return new GrpcStatusError(status.FAILED_PRECONDITION, message);
}
