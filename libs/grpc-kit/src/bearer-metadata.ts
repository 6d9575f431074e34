import { Metadata } from '@grpc/grpc-js';

/** The secret from `authorization: Bearer <secret>` metadata, or undefined. */
export function bearerFromMetadata(metadata: Metadata): string | undefined {
  const value = metadata.get('authorization')[0];
  if (typeof value !== 'string') return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(value);
  return match ? match[1] : undefined;
}

/** Metadata carrying `authorization: Bearer <secret>`. */
export function bearerMetadata(secret: string): Metadata {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${secret}`);
  return metadata;
}
