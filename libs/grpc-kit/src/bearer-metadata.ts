import { Metadata } from '@grpc/grpc-js';

/** The secret from an `Authorization: Bearer <secret>` value (HTTP header or gRPC metadata). */
export function bearerSecret(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(value);
  return match ? match[1] : undefined;
}

/** The secret from `authorization: Bearer <secret>` metadata, or undefined. */
export function bearerFromMetadata(metadata: Metadata): string | undefined {
  const value = metadata.get('authorization')[0];
  return typeof value === 'string' ? bearerSecret(value) : undefined;
}

/** Metadata carrying `authorization: Bearer <secret>`. */
export function bearerMetadata(secret: string): Metadata {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${secret}`);
  return metadata;
}
