import * as grpc from '@grpc/grpc-js';
import { H2_ERROR } from './h2-errors';

/** A status read from a response's trailers (or trailers-only HEADERS). */
export interface ClientStatus {
  code: grpc.status;
  details: string;
  metadata: grpc.Metadata;
}

/** Response headers that are the transport's, not the application's metadata. */
const NOT_METADATA = new Set([':status', 'content-type', 'grpc-status', 'grpc-message', 'grpc-encoding', 'grpc-accept-encoding', 'grpc-status-details-bin']);

/**
 * grpc-status and grpc-message of `headers`, as grpc-js reads them: a missing or malformed
 * grpc-status is UNKNOWN (a broken or hostile peer must not pick a status such as OK by
 * accident), grpc-message is percent-decoded, the other headers are the trailing metadata.
 */
export function readGrpcStatus(headers: Array<[string, string]>): ClientStatus {
  let rawStatus: string | undefined;
  let rawMessage = '';
  const plain: Record<string, string | string[]> = {};
  for (const [name, value] of headers) {
    if (name === 'grpc-status') rawStatus = value;
    else if (name === 'grpc-message') rawMessage = value;
    else if (!NOT_METADATA.has(name) && !name.startsWith(':')) {
      const existing = plain[name];
      plain[name] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
    }
  }
  let metadata: grpc.Metadata;
  try {
    metadata = grpc.Metadata.fromHttp2Headers(plain);
  } catch {
    metadata = new grpc.Metadata();
  }
  if (rawStatus === undefined) return { code: grpc.status.UNKNOWN, details: 'the broker ended the call without a grpc-status', metadata };
  const code = /^\d{1,2}$/.test(rawStatus) ? Number(rawStatus) : NaN;
  if (!(code >= 0 && code <= 16)) return { code: grpc.status.UNKNOWN, details: `the broker sent an invalid grpc-status ${JSON.stringify(rawStatus.slice(0, 32))}`, metadata };
  return { code, details: percentDecode(rawMessage), metadata };
}

/** grpc-message's %XX escapes back to UTF-8 text; a malformed escape is kept as it is. */
export function percentDecode(message: string): string {
  if (!message.includes('%')) return message;
  const bytes: number[] = [];
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c === 0x25 && /^[0-9a-fA-F]{2}$/.test(message.slice(i + 1, i + 3))) {
      bytes.push(parseInt(message.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(c & 0xff);
  }
  return Buffer.from(bytes).toString('utf8');
}

/** gRPC's mapping of an HTTP status that is not 200 (doc/http-grpc-status-mapping.md). */
export function grpcStatusOfHttp(httpStatus: string | undefined): grpc.status {
  switch (httpStatus) {
    case '400':
      return grpc.status.INTERNAL;
    case '401':
      return grpc.status.UNAUTHENTICATED;
    case '403':
      return grpc.status.PERMISSION_DENIED;
    case '404':
      return grpc.status.UNIMPLEMENTED;
    case '429':
    case '502':
    case '503':
    case '504':
      return grpc.status.UNAVAILABLE;
    default:
      return grpc.status.UNKNOWN;
  }
}

/** grpc-js's mapping of a server's RST_STREAM code to the call's status. */
export function grpcStatusOfReset(code: number): grpc.status {
  switch (code) {
    case H2_ERROR.REFUSED_STREAM:
      return grpc.status.UNAVAILABLE;
    case H2_ERROR.CANCEL:
      return grpc.status.CANCELLED;
    case H2_ERROR.ENHANCE_YOUR_CALM:
      return grpc.status.RESOURCE_EXHAUSTED;
    case H2_ERROR.INADEQUATE_SECURITY:
      return grpc.status.PERMISSION_DENIED;
    default:
      return grpc.status.INTERNAL;
  }
}
