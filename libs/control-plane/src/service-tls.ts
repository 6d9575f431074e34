import { readFileSync } from 'node:fs';
import { type ChannelCredentials, credentials } from '@grpc/grpc-js';
import { ConfigError } from '@st/config';
import type { ServerConfig } from './server-config';

/**
 * How one service dials another's gRPC port (a gateway dialling the brokers it finds in
 * presence): TLS verified against ST_TLS_CA_FILE when set, else plaintext.
 */
export function serviceChannelCredentials(config: Pick<ServerConfig, 'tlsCaFile'>): ChannelCredentials {
  if (!config.tlsCaFile) return credentials.createInsecure();
  let ca: Buffer;
  try {
    ca = readFileSync(config.tlsCaFile);
  } catch (err) {
    throw new ConfigError(`invalid configuration:\n  ST_TLS_CA_FILE: cannot read ${config.tlsCaFile}: ${(err as Error).message}`);
  }
  if (!ca.toString('latin1').includes('-----BEGIN CERTIFICATE-----')) {
    throw new ConfigError(`invalid configuration:\n  ST_TLS_CA_FILE: ${config.tlsCaFile} holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`);
  }
  return credentials.createSsl(ca);
}
