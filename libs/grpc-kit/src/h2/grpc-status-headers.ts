import type * as grpc from '@grpc/grpc-js';

/** HEADERS that start a gRPC response. */
export const RESPONSE_HEADERS: ReadonlyArray<readonly [string, string]> = [
  [':status', '200'],
  ['content-type', 'application/grpc'],
  ['grpc-accept-encoding', 'identity'],
];

/** Longest grpc-message we send: a status is read by people, and a header block has limits. */
const MAX_MESSAGE_CHARS = 4096;

/**
 * grpc-message is percent-encoded (gRPC over HTTP/2, "Responses"): every byte of its UTF-8
 * outside printable ASCII, and '%' itself, becomes %XX.
 */
export function percentEncodeGrpcMessage(message: string): string {
  const bytes = Buffer.from(message.slice(0, MAX_MESSAGE_CHARS), 'utf8');
  let out = '';
  for (const b of bytes) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The trailers of a status (with :status and content-type first when nothing was sent: trailers-only). */
export function statusHeaders(code: number, details: string, metadata: grpc.Metadata | undefined, trailersOnly: boolean): Array<[string, string]> {
  const headers: Array<[string, string]> = trailersOnly ? RESPONSE_HEADERS.map(([n, v]) => [n, v] as [string, string]) : [];
  headers.push(['grpc-status', String(code)]);
  if (details) headers.push(['grpc-message', percentEncodeGrpcMessage(details)]);
  if (metadata) {
    for (const [name, value] of Object.entries(metadata.toHttp2Headers())) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) headers.push([name, String(v)]);
    }
  }
  return headers;
}
